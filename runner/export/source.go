// Package export writes a trained model in other frameworks' formats: an ONNX graph
// (`runner export onnx`, for ONNX Runtime, TensorRT and the Jetson detectnet tools) and a
// PyTorch state_dict (`runner export pth`, which the reference project's net.load reads).
//
// Both start from a Model: the network rebuilt from an experiment with a checkpoint's
// weights, its priors and its classes (Load).
package export

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// Model is a network ready for export: the SSD with its weights, the priors its boxes
// are decoded against, and what a user of the exported file needs to know. Close frees
// its tensors.
type Model struct {
	SSD        *model.SSD
	Experiment *config.Experiment
	// Classes are the class names, BACKGROUND first.
	Classes []string
	// ImageSize is the input's height and width (the anchors').
	ImageSize int
	// Priors are the anchors [P,4], centre form, relative to the image.
	Priors    *ts.Tensor
	Variances box.Variances
	// Checkpoint is the file the weights came from.
	Checkpoint string
}

// Close frees the model's tensors; it may be called more than once.
func (m *Model) Close() {
	if m == nil {
		return
	}
	if m.Priors != nil {
		m.Priors.MustDrop()
		m.Priors = nil
	}
	if m.SSD != nil {
		m.SSD.Close()
		m.SSD = nil
	}
}

// Source says where a Model comes from.
type Source struct {
	// Checkpoint is a checkpoint written by `runner apply` (which records its experiment
	// and classes), or a weights file: a PyTorch state_dict (.pth, e.g. the reference's
	// mb2-ssd-lite-mp-0_686.pth) or a VarStore file, which need Experiment.
	Checkpoint string
	// Experiment, when set, describes the model (its model and data blocks); it is
	// required for a weights file and replaces a checkpoint's own experiment otherwise.
	Experiment *config.Result
	// Labels, when set, is a labels file naming the classes (for a weights file whose
	// experiment has neither model.labels nor model.num_classes).
	Labels string
}

// Load rebuilds the model that src describes and loads its weights, strictly: every
// variable of the model must be in the file with its shape, and every key of the file
// must be a variable of the model.
func Load(src Source) (_ *Model, err error) {
	defer torch.Recover(&err)
	if src.Checkpoint == "" {
		return nil, errors.New("no checkpoint given")
	}
	if err := checkRegular(src.Checkpoint); err != nil {
		return nil, err
	}
	var classes []string
	var e *config.Experiment
	meta, metaErr := train.ReadCheckpointMeta(src.Checkpoint)
	switch {
	case metaErr == nil:
		classes = meta.Classes
		if src.Experiment != nil {
			e = &src.Experiment.Experiment
		} else {
			res, err := experimentOf(src.Checkpoint, meta)
			if err != nil {
				return nil, err
			}
			e = &res.Experiment
		}
	case src.Experiment != nil:
		e = &src.Experiment.Experiment
	case model.IsTorchScript(src.Checkpoint):
		return nil, fmt.Errorf("%w; to export a weights file, give the experiment that describes its model", metaErr)
	default:
		return nil, fmt.Errorf("%s is not a checkpoint of runner apply (it records no experiment): give the experiment that describes its model (e.g. experiments/base/mb2-ssd-lite.hcl for the reference's mb2-ssd-lite)", src.Checkpoint)
	}
	if classes == nil {
		if classes, err = resolveClasses(e, src.Labels); err != nil {
			return nil, err
		}
	}
	if len(classes) < 2 {
		return nil, fmt.Errorf("%d classes: a detector needs BACKGROUND and at least one class", len(classes))
	}

	m, err := newModel(e, classes)
	if err != nil {
		return nil, err
	}
	m.Checkpoint = src.Checkpoint
	if err := loadWeights(m.SSD.VarStore(), src.Checkpoint); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// newModel builds the network of e for classes, freshly initialised (from the
// experiment's seed), with its priors.
func newModel(e *config.Experiment, classes []string) (_ *Model, err error) {
	defer torch.Recover(&err)
	gen, err := anchors.Build(e.Model.Anchors)
	if err != nil {
		return nil, fmt.Errorf("model.anchors: %w", err)
	}
	m := &Model{Experiment: e, Classes: classes, ImageSize: gen.ImageSize(), Variances: box.DefaultVariances}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	torch.ManualSeed(e.Training.Seed)
	vs := nn.NewVarStore(gotch.CPU)
	if m.SSD, err = model.Build(vs, e.Model.Backbone, e.Model.Head, anchors.BoxesPerLocation(gen.FeatureMaps()), len(classes)); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := build.CheckFeatureMaps(m.SSD, gen); err != nil {
		return nil, fmt.Errorf("model.anchors: %w", err)
	}
	if m.Priors, err = gen.Priors(); err != nil {
		return nil, fmt.Errorf("model.anchors: %w", err)
	}
	return m, nil
}

// experimentOf loads the resolved experiment a checkpoint records.
func experimentOf(path string, meta train.Meta) (*config.Result, error) {
	text, err := config.WriteHCL(meta.Experiment)
	if err != nil {
		return nil, fmt.Errorf("%s: its experiment record: %w", path, err)
	}
	name := path + ":experiment.hcl"
	res, diags := config.Load(name, config.Options{ReadFile: func(p string) ([]byte, error) {
		if p == name {
			return text, nil
		}
		return nil, fmt.Errorf("%s: the experiment a checkpoint records cannot read other files", p)
	}})
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: its experiment record does not load: %w", path, diags)
	}
	return res, nil
}

// resolveClasses names the classes of a weights file's model: a labels file (the
// argument, else model.labels), else model.num_classes, else the training dataset's.
func resolveClasses(e *config.Experiment, labels string) ([]string, error) {
	if labels == "" {
		labels = e.Model.Labels
	}
	n := e.Model.NumClasses
	if labels != "" {
		names, err := dataset.ReadLabels(labels)
		if err != nil {
			return nil, err
		}
		if n != 0 && n != len(names) {
			return nil, fmt.Errorf("num_classes = %d but %s gives %d classes (BACKGROUND included)", n, labels, len(names))
		}
		return names, nil
	}
	if n > 0 {
		names := []string{"BACKGROUND"}
		for i := 1; i < n; i++ {
			names = append(names, fmt.Sprintf("class%d", i))
		}
		return names, nil
	}
	if e.Data.Train.Type != "" {
		ds, err := dataset.Build(e.Data.Train, dataset.Env{BaseDir: "."})
		if err != nil {
			return nil, fmt.Errorf("the classes come from the training dataset, which does not load (set model.labels or model.num_classes, or give --labels): %w", err)
		}
		return ds.ClassNames(), nil
	}
	return nil, errors.New("cannot tell the classes: set model.labels or model.num_classes, or give --labels")
}

// loadWeights loads a checkpoint of ours, a VarStore file or a torch.save state_dict into
// vs, strictly.
func loadWeights(vs *nn.VarStore, path string) error {
	var rep model.LoadReport
	if model.IsTorchScript(path) {
		list, err := ts.LoadMultiWithDevice(path, gotch.CPU)
		if err != nil {
			return fmt.Errorf("%s: not a readable checkpoint: %s", path, torch.ErrLine(err))
		}
		named := make(map[string]*ts.Tensor, len(list))
		for _, nt := range list {
			named[nt.Name] = nt.Tensor
		}
		defer func() {
			for _, t := range named {
				t.MustDrop()
			}
		}()
		for k, t := range named {
			if strings.HasPrefix(k, "__") { // a checkpoint's optimizer state, RNG and meta records
				t.MustDrop()
				delete(named, k)
			}
		}
		if rep, err = model.LoadStateDict(vs, named, model.LoadOptions{}); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	} else {
		var err error
		if rep, err = model.LoadPTH(vs, path, model.LoadOptions{}); err != nil {
			return err
		}
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func checkRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}
