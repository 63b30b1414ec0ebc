package train

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// CheckpointFormat names the layout of a checkpoint's meta record.
const CheckpointFormat = "ssdrunner-checkpoint/1"

// Key names of a checkpoint file beside the model's variables (which keep their own
// names, so that model.init.pretrained reads a checkpoint as a state_dict).
const (
	metaKey     = "__meta__"       // uint8 tensor holding the Meta JSON
	optimPrefix = "__optimizer__." // the optimizer's state tensors
	rngKey      = "__rng_torch__"  // libtorch's CPU generator state
)

// Meta is everything a checkpoint holds besides tensors.
type Meta struct {
	Format string `json:"format"`
	// Epoch is the epoch in progress (0-based) and Step the number of its batches already
	// trained: training continues at batch Step of epoch Epoch. After a whole epoch, Epoch
	// is the next one and Step 0.
	Epoch      int `json:"epoch"`
	Step       int `json:"step"`
	GlobalStep int `json:"global_step"`
	// Experiment is the resolved experiment (config.Experiment.Resolved) the run trains.
	Experiment map[string]any `json:"experiment"`
	Classes    []string       `json:"classes"`
	// History is the run's record so far (epochs, validations, best).
	History History `json:"history"`
	// Reason says why it was written: "epoch", "interrupt", "final".
	Reason string `json:"reason"`
	// World is the number of ranks of the data-parallel job that wrote it (Step counts its
	// global batches); 0 or 1 for one process.
	World int `json:"world,omitempty"`
	// ValidationPending: the run was interrupted during the validation after epoch Epoch
	// (1-based; Step is 0), which a resume runs before training on.
	ValidationPending bool `json:"validation_pending,omitempty"`
}

// saveCheckpoint writes the model's variables, the optimizer's state, libtorch's RNG
// state and meta into path, atomically: a temporary file in the same folder is written,
// synced and renamed over path, and the folder is synced, so that path is always either
// the previous checkpoint or the new one, whole.
func saveCheckpoint(path string, model map[string]*ts.Tensor, optState map[string]*ts.Tensor, meta Meta) error {
	meta.Format = CheckpointFormat
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	metaT, err := torch.FromSlices([]int64{int64(len(js))}, js)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer metaT.MustDrop()
	rng, err := torch.RNGState()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer rng.MustDrop()

	named := make([]ts.NamedTensor, 0, len(model)+len(optState)+2)
	for _, k := range sortedKeys(model) {
		named = append(named, ts.NamedTensor{Name: k, Tensor: model[k]})
	}
	for _, k := range sortedKeys(optState) {
		named = append(named, ts.NamedTensor{Name: optimPrefix + k, Tensor: optState[k]})
	}
	named = append(named, ts.NamedTensor{Name: metaKey, Tensor: metaT}, ts.NamedTensor{Name: rngKey, Tensor: rng})

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmpName)
		}
	}()
	if err := ts.SaveMultiNew(named, tmpName); err != nil {
		return fmt.Errorf("checkpoint %s: %s", path, torch.ErrLine(err))
	}
	if err := syncFile(tmpName); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	ok = true
	return fsutil.SyncDir(dir)
}

// checkpoint is a loaded checkpoint; Close frees its tensors.
type checkpoint struct {
	Path  string
	Meta  Meta
	Model map[string]*ts.Tensor
	Optim map[string]*ts.Tensor
	RNG   *ts.Tensor
}

func (c *checkpoint) Close() {
	for _, m := range []map[string]*ts.Tensor{c.Model, c.Optim} {
		for _, t := range m {
			t.MustDrop()
		}
	}
	if c.RNG != nil {
		c.RNG.MustDrop()
	}
}

// loadCheckpoint reads a checkpoint written by saveCheckpoint. A file that is not one
// (truncated, corrupt, another kind of file, or without its meta record) is an error
// naming it.
func loadCheckpoint(path string) (*checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("checkpoint %s: not a regular file", path)
	}
	if err := checkZip(path); err != nil {
		return nil, fmt.Errorf("checkpoint %s: not a readable checkpoint (truncated or corrupt): %w", path, err)
	}
	list, err := ts.LoadMultiWithDevice(path, gotch.CPU)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: not a readable checkpoint (truncated or corrupt): %s", path, torch.ErrLine(err))
	}
	c := &checkpoint{Path: path, Model: map[string]*ts.Tensor{}, Optim: map[string]*ts.Tensor{}}
	var metaT *ts.Tensor
	for _, nt := range list {
		switch {
		case nt.Name == metaKey:
			metaT = nt.Tensor
		case nt.Name == rngKey:
			c.RNG = nt.Tensor
		case strings.HasPrefix(nt.Name, optimPrefix):
			c.Optim[strings.TrimPrefix(nt.Name, optimPrefix)] = nt.Tensor
		default:
			c.Model[nt.Name] = nt.Tensor
		}
	}
	if metaT == nil {
		c.Close()
		return nil, fmt.Errorf("checkpoint %s: no %s record: not a checkpoint written by runner apply (a weights file goes in model.init.pretrained)", path, metaKey)
	}
	defer metaT.MustDrop()
	js := make([]uint8, metaT.Numel())
	if err := torch.CopyTo(metaT, js); err != nil {
		c.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := json.Unmarshal(js, &c.Meta); err != nil {
		c.Close()
		return nil, fmt.Errorf("checkpoint %s: corrupt meta record: %w", path, err)
	}
	if c.Meta.Format != CheckpointFormat {
		c.Close()
		return nil, fmt.Errorf("checkpoint %s: format %q, this runner reads %q", path, c.Meta.Format, CheckpointFormat)
	}
	return c, nil
}

func sortedKeys(m map[string]*ts.Tensor) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkZip checks that path is a whole zip archive (the container of SaveMulti's
// TorchScript format) whose every record reads back with its checksum, before libtorch
// sees it: a truncated or damaged file is refused here with a plain error.
func checkZip(path string) error {
	r, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("record %s: %w", f.Name, err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("record %s: %w", f.Name, err)
		}
	}
	return nil
}

// ReadCheckpointMeta returns the meta record of a checkpoint written by `runner apply`
// (its epoch and step, resolved experiment, class names and history). A file that is not
// such a checkpoint is an error naming it.
func ReadCheckpointMeta(path string) (Meta, error) {
	c, err := loadCheckpoint(path)
	if err != nil {
		return Meta{}, err
	}
	defer c.Close()
	return c.Meta, nil
}
