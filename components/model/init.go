package model

import (
	"archive/zip"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model/keypattern"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// The values of InitConfig.OnClassMismatch.
const (
	// ReinitHeads is the reference's init_from_pretrained_ssd: neither header is loaded
	// (classification_headers.* and regression_headers.* are both left out) and the
	// convolution weights of both are re-initialised with xavier_uniform_; their biases
	// keep the model's fresh initialisation.
	ReinitHeads = "reinit"
	// ReinitClassifier loads everything but classification_headers.* (the box regressors
	// do not depend on the classes) and re-initialises the classifiers' convolution
	// weights with xavier_uniform_. Not in the reference.
	ReinitClassifier = "reinit_classifier"
	// Subsample keeps, for every class of ours found by name in the pretrained model's
	// labels, that class's classifier weights and biases (the weight sub-sampling of the
	// Keras SSD project); the other classes keep the model's fresh initialisation.
	Subsample = "subsample"
)

// InitConfig says where an SSD's initial weights come from (the reference's --base_net
// and --pretrained_ssd). At most one of BaseNet and Pretrained is set.
type InitConfig struct {
	// BaseNet is a state_dict of the base net alone (keys "0.0.weight"…, as the
	// reference saves net.base_net), loaded under "base_net."; a whole SSD's state_dict
	// (keys "base_net.…") is accepted too, and only its base net is read.
	BaseNet string
	// Pretrained is a whole SSD's state_dict. Its class count is read from its
	// classification headers' shapes.
	Pretrained string
	// OnClassMismatch is ReinitHeads (the default when empty), ReinitClassifier or
	// Subsample: what happens to the heads when Pretrained has another number of classes.
	OnClassMismatch string
	// PretrainedLabels are the Pretrained model's classes, BACKGROUND first, as the caller
	// read them from its labels file (dataset.ReadLabels); needed by Subsample.
	PretrainedLabels []string
	// Labels are the model's classes, BACKGROUND first (needed by Subsample).
	Labels []string
	// IgnoreKeys leaves keys of the file out before anything else happens, as if the file
	// did not hold them: each entry is a glob over the file's keys (path.Match, where "*"
	// stops at nothing but "/", so "fc.*" takes every key under fc) or a module name that
	// takes every key under it ("layer4"). Made for starting from a whole ImageNet
	// classifier: a torchvision resnet50 file as base_net with IgnoreKeys
	// ["layer4", "fc"]. The keys left out are listed in the report's Ignored, and an entry
	// that matches no key in UnmatchedIgnore; everything else is loaded as strictly as
	// without it.
	IgnoreKeys []string
}

// Init loads the model's initial weights as cfg says, the way the reference's SSD
// init_from_base_net and init_from_pretrained_ssd do (see InitConfig and the
// OnClassMismatch values); with neither BaseNet nor Pretrained it does nothing.
//
// Files are state_dicts written by torch.save (python3-torch 1.13 or earlier) or
// checkpoints written by gotch's VarStore.Save; a "module." prefix on every key
// (DataParallel) is removed. Loading is strict, as in the reference: a key the model
// lacks, a variable the file lacks or a shape that differs (outside what the class
// handling explains) is an error naming the file and listing a few of them; the
// returned report lists them all. On such an error the model may have been partly
// loaded (as by torch's strict load_state_dict): discard it.
//
// With BaseNet, the convolution weights of every module but base_net are then
// re-initialised with xavier_uniform_, as init_from_base_net does (the biases keep the
// model's fresh initialisation).
//
// With Pretrained of the model's class count, everything is loaded (the reference
// re-initialises the heads whenever it starts from a pretrained SSD; this project only
// does so when the class counts differ), except that Subsample with both label lists
// still maps the classes by name when their order differs.
//
// Values are copied without recording gradients; the calling thread's gradient mode is
// the same afterwards as before.
func (m *SSD) Init(cfg InitConfig) (_ LoadReport, err error) {
	defer torch.Recover(&err)
	mode := cfg.OnClassMismatch
	if mode == "" {
		mode = ReinitHeads
	}
	switch mode {
	case ReinitHeads, ReinitClassifier, Subsample:
	default:
		return LoadReport{}, fmt.Errorf("init: on_class_mismatch must be %q, %q or %q, got %q", ReinitHeads, ReinitClassifier, Subsample, cfg.OnClassMismatch)
	}
	if cfg.BaseNet != "" && cfg.Pretrained != "" {
		return LoadReport{}, fmt.Errorf("init: both base_net (%s) and pretrained (%s) are set; use one", cfg.BaseNet, cfg.Pretrained)
	}
	if cfg.BaseNet == "" && cfg.Pretrained == "" {
		return LoadReport{}, nil
	}
	if err := keypattern.Check(cfg.IgnoreKeys); err != nil {
		return LoadReport{}, fmt.Errorf("init: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := torch.SetGradEnabled(true)
	if err != nil {
		return LoadReport{}, err
	}
	defer func() { _, _ = torch.SetGradEnabled(prev) }()
	file := cfg.BaseNet
	if file == "" {
		file = cfg.Pretrained
	}
	named, err := readStateDict(file)
	if err != nil {
		return LoadReport{}, err
	}
	defer dropAll(named)
	ignored, unmatched := ignoreKeys(named, cfg.IgnoreKeys)
	if len(named) == 0 {
		return LoadReport{}, fmt.Errorf("%s: ignore_keys %q leave out every one of its %d keys", file, cfg.IgnoreKeys, len(ignored))
	}
	var rep LoadReport
	if cfg.BaseNet != "" {
		rep, err = m.initFromBaseNet(file, named)
	} else {
		rep, err = m.initFromPretrained(cfg, mode, named)
	}
	rep.Ignored = append(rep.Ignored, ignored...)
	sort.Strings(rep.Ignored)
	rep.UnmatchedIgnore = unmatched
	return rep, err
}

// ignoreKeys removes from named (dropping their tensors) the keys that an entry of
// patterns takes (see InitConfig.IgnoreKeys), returning them sorted and the entries that
// take no key.
func ignoreKeys(named map[string]*ts.Tensor, patterns []string) (ignored, unmatched []string) {
	took := make([]bool, len(patterns))
	for k, t := range named {
		hit := false
		for j, p := range patterns {
			if keypattern.Match(p, k) {
				took[j], hit = true, true
			}
		}
		if hit {
			t.MustDrop()
			delete(named, k)
			ignored = append(ignored, k)
		}
	}
	for j, p := range patterns {
		if !took[j] {
			unmatched = append(unmatched, p)
		}
	}
	sort.Strings(ignored)
	return ignored, unmatched
}

// initFromBaseNet loads a base-net state_dict under "base_net." and xavier-initialises
// the convolutions of the other modules.
func (m *SSD) initFromBaseNet(file string, named map[string]*ts.Tensor) (LoadReport, error) {
	const prefix = "base_net."
	var ignored []string
	if hasKeyPrefix(named, prefix) {
		base := map[string]*ts.Tensor{}
		for k, t := range named {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				base[rest] = t
			} else {
				ignored = append(ignored, k)
			}
		}
		named = base
	}
	rep, err := LoadStateDict(m.vs, named, LoadOptions{AddPrefix: prefix})
	if err != nil {
		return rep, fmt.Errorf("base_net %s: %w", file, err)
	}
	rep.Ignored = append(rep.Ignored, ignored...)
	sort.Strings(rep.Ignored)
	if !rep.Complete() {
		return rep, fmt.Errorf("base_net %s does not fit the model's base net: %s", file, rep.problems())
	}
	var others []string
	for _, mod := range m.Modules() {
		if mod != "base_net" {
			others = append(others, mod)
		}
	}
	rep.Reinitialised, err = m.xavierInit(others...)
	return rep, err
}

// initFromPretrained loads a whole SSD, handling a different class count as mode says.
func (m *SSD) initFromPretrained(cfg InitConfig, mode string, named map[string]*ts.Tensor) (LoadReport, error) {
	file := cfg.Pretrained
	layers, err := m.classLayers()
	if err != nil {
		return LoadReport{}, err
	}
	fileClasses, err := detectClasses(named, layers, m.vs.Root())
	if err != nil {
		return LoadReport{}, fmt.Errorf("pretrained %s: %w", file, err)
	}
	if fileClasses == 0 { // no readable classifier: the strict load reports why
		fileClasses = m.NumClasses
	}

	var copies []ClassCopy
	var fresh []string
	remap := false
	if mode == Subsample && (fileClasses != m.NumClasses || len(cfg.PretrainedLabels) > 0) {
		theirs, err := m.subsampleLabels(cfg, fileClasses)
		if err != nil {
			return LoadReport{}, fmt.Errorf("pretrained %s: %w", file, err)
		}
		copies, fresh, err = matchClasses(cfg.Labels, theirs)
		if err != nil {
			return LoadReport{}, fmt.Errorf("pretrained %s: %w", file, err)
		}
		remap = fileClasses != m.NumClasses || len(fresh) > 0 || !identity(copies)
	}

	var rep LoadReport
	switch {
	case remap:
		rep, err = m.loadSubsampled(named, layers, fileClasses, copies)
		if err == nil {
			rep.CopiedClasses, rep.NewClasses = copies, fresh
		}
	case fileClasses == m.NumClasses:
		rep, err = LoadStateDict(m.vs, named, LoadOptions{})
	default:
		heads := []string{"classification_headers", "regression_headers"}
		if mode == ReinitClassifier {
			heads = heads[:1]
		}
		rep, err = LoadStateDict(m.vs, named, LoadOptions{Skip: heads})
		if err == nil && rep.Complete() {
			rep.Reinitialised, err = m.xavierInit(heads...)
		}
	}
	if err != nil {
		return rep, fmt.Errorf("pretrained %s: %w", file, err)
	}
	if !rep.Complete() {
		hint := ""
		if !hasKeyPrefix(named, "base_net.") {
			hint = " (no key starts with \"base_net.\": is it a base net's state_dict? use base_net for those)"
		}
		return rep, fmt.Errorf("pretrained %s does not fit the model: %s%s", file, rep.problems(), hint)
	}
	return rep, nil
}

// subsampleLabels checks the pretrained model's labels against its class count and ours.
func (m *SSD) subsampleLabels(cfg InitConfig, fileClasses int) ([]string, error) {
	if len(cfg.PretrainedLabels) == 0 {
		return nil, fmt.Errorf("it has %d classes and the model %d: on_class_mismatch = %q needs pretrained_labels", fileClasses, m.NumClasses, Subsample)
	}
	if len(cfg.Labels) != m.NumClasses {
		return nil, fmt.Errorf("on_class_mismatch = %q needs the model's %d class names, got %d", Subsample, m.NumClasses, len(cfg.Labels))
	}
	theirs := cfg.PretrainedLabels
	if len(theirs) != fileClasses {
		return nil, fmt.Errorf("its classification headers have %d classes but pretrained_labels lists %d (BACKGROUND included)", fileClasses, len(theirs))
	}
	return theirs, nil
}

// loadSubsampled loads everything but the class-dependent tensors as is, then copies the
// rows of the classes in copies into those.
func (m *SSD) loadSubsampled(named map[string]*ts.Tensor, layers []classLayer, fileClasses int, copies []ClassCopy) (LoadReport, error) {
	var skip []string
	for _, l := range layers {
		skip = append(skip, l.names()...)
	}
	rep, err := LoadStateDict(m.vs, named, LoadOptions{Skip: skip})
	if err != nil {
		return rep, err
	}
	root := m.vs.Root()
	ignored := map[string]bool{}
	for _, n := range rep.Ignored {
		ignored[n] = true
	}
	from, to := make([]int64, len(copies)), make([]int64, len(copies))
	for i, c := range copies {
		from[i], to[i] = int64(c.From), int64(c.To)
	}
	for _, l := range layers {
		for _, name := range l.names() {
			dst, err := root.Get(name)
			if err != nil {
				return rep, err
			}
			src, ok := named[name]
			if !ok {
				rep.Missing = append(rep.Missing, name)
				continue
			}
			delete(ignored, name)
			ms, fs := dst.MustSize(), src.MustSize()
			if fs[0] != l.boxes*int64(fileClasses) || !sameTail(ms, fs) {
				rep.Mismatched = append(rep.Mismatched, ShapeMismatch{Name: name, Model: ms, File: fs})
				continue
			}
			if err := copyClassRows(dst, src, l.boxes, int64(fileClasses), int64(m.NumClasses), from, to); err != nil {
				return rep, fmt.Errorf("sub-sampling %q: %w", name, err)
			}
			rep.Loaded = append(rep.Loaded, name)
		}
	}
	rep.Ignored = rep.Ignored[:0]
	for n := range ignored {
		rep.Ignored = append(rep.Ignored, n)
	}
	for _, l := range [][]string{rep.Loaded, rep.Missing, rep.Ignored} {
		sort.Strings(l)
	}
	sort.Slice(rep.Mismatched, func(i, j int) bool { return rep.Mismatched[i].Name < rep.Mismatched[j].Name })
	return rep, nil
}

// readStateDict reads a torch.save state_dict (an OrderedDict or dict of tensors) or a
// VarStore.Save checkpoint onto the CPU; the caller owns
// the tensors. Keys lose a "module." prefix that all share.
func readStateDict(path string) (map[string]*ts.Tensor, error) {
	var named map[string]*ts.Tensor
	if IsTorchScript(path) {
		list, err := ts.LoadMultiWithDevice(path, gotch.CPU)
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable VarStore checkpoint: %s", path, torch.ErrLine(err))
		}
		named = make(map[string]*ts.Tensor, len(list))
		for _, nt := range list {
			if strings.HasPrefix(nt.Name, "__") {
				// a runner apply checkpoint's records besides the weights (optimizer
				// state, random generator, meta): not part of the model
				nt.Tensor.MustDrop()
				continue
			}
			named[nt.Name] = nt.Tensor
		}
	} else {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
		var err error
		if named, err = decodePTH(path); err != nil {
			msg := strings.TrimPrefix(err.Error(), path+": ")
			return nil, fmt.Errorf("%s: not a readable PyTorch state_dict (truncated, corrupt or another kind of file): %s", path, msg)
		}
	}
	if len(named) == 0 {
		return nil, fmt.Errorf("%s: holds no tensors", path)
	}
	if !allHavePrefix(named, "module.") {
		return named, nil
	}
	out := make(map[string]*ts.Tensor, len(named))
	for k, t := range named {
		out[strings.TrimPrefix(k, "module.")] = t
	}
	return out, nil
}

// IsTorchScript reports whether path is a zip archive with a constants.pkl record: a
// TorchScript archive, the format of gotch's VarStore.Save (torch.save writes no such
// record).
func IsTorchScript(path string) bool {
	r, err := zip.OpenReader(path)
	if err != nil {
		return false
	}
	defer r.Close()
	for _, f := range r.File {
		if f.Name == "constants.pkl" || strings.HasSuffix(f.Name, "/constants.pkl") {
			return true
		}
	}
	return false
}

func dropAll(named map[string]*ts.Tensor) {
	for _, t := range named {
		t.MustDrop()
	}
}

func hasKeyPrefix(named map[string]*ts.Tensor, prefix string) bool {
	for k := range named {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func allHavePrefix(named map[string]*ts.Tensor, prefix string) bool {
	for k := range named {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
	}
	return len(named) > 0
}
