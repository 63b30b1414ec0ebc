package model

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/model/keypattern"
	"github.com/ssdrunner/ssdrunner/internal/pthfile"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// LoadOptions select what part of a checkpoint is loaded, mirroring the reference's ways
// of starting from weights.
type LoadOptions struct {
	// AddPrefix is put before every checkpoint key, and only the model's variables under
	// it are expected: "base_net." loads a base-net-only checkpoint (keys "0.0.weight"…)
	// as the reference's init_from_base_net does.
	AddPrefix string
	// Skip lists name prefixes, matched after AddPrefix, that are neither loaded nor
	// expected (e.g. "classification_headers", "regression_headers" to start from another
	// SSD's weights with a new number of classes, as init_from_pretrained_ssd does).
	Skip []string
}

func (o LoadOptions) skipped(name string) bool {
	for _, p := range o.Skip {
		if keypattern.InModule(name, p) {
			return true
		}
	}
	return false
}

// ShapeMismatch is a key present on both sides with different shapes.
type ShapeMismatch struct {
	Name        string
	Model, File []int64
}

// LoadReport says what a load did. Only the names in Loaded and Reinitialised were
// changed.
type LoadReport struct {
	Loaded     []string        // model variables whose values were copied in (in part, for sub-sampled classifiers)
	Missing    []string        // expected model variables the checkpoint lacks (left as they were)
	Unexpected []string        // checkpoint keys with no model variable
	Mismatched []ShapeMismatch // keys on both sides with different shapes (left as they were)
	// Ignored lists checkpoint keys deliberately not loaded: those under Skip, and the
	// batch norms' "num_batches_tracked" counters (this project's batch norms always use
	// momentum 0.1, for which torch never reads the counter, so it is not kept).
	Ignored []string
	// Reinitialised lists model variables given a fresh initialisation by SSD.Init
	// (xavier_uniform_, as the reference's _xavier_init_).
	Reinitialised []string
	// CopiedClasses and NewClasses are set when SSD.Init sub-samples a pretrained
	// classifier: the classes (ours) whose weights came from the pretrained model, and
	// the names of ours that kept their fresh initialisation.
	CopiedClasses []ClassCopy
	NewClasses    []string
	// UnmatchedIgnore lists the InitConfig.IgnoreKeys entries that took no key of the
	// file (a warning: a typo, or a file already cut down).
	UnmatchedIgnore []string
}

// ClassCopy is one class whose classifier weights and biases were copied from the
// pretrained model's class From to our class To (indexes into the label lists,
// BACKGROUND at 0).
type ClassCopy struct {
	Name     string
	From, To int
}

// Complete reports whether every expected variable was loaded and every checkpoint key
// used (torch's strict loading).
func (r LoadReport) Complete() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// Err returns nil for a complete load, otherwise an error listing the problems.
func (r LoadReport) Err() error {
	if r.Complete() {
		return nil
	}
	return fmt.Errorf("checkpoint does not match the model: %s", r.problems())
}

func (r LoadReport) problems() string {
	var parts []string
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		shown := names
		if len(shown) > 8 {
			shown = shown[:8]
		}
		s := fmt.Sprintf("%d %s (%s", len(names), what, strings.Join(shown, ", "))
		if len(names) > len(shown) {
			s += ", …"
		}
		parts = append(parts, s+")")
	}
	list("missing", r.Missing)
	list("unexpected", r.Unexpected)
	var mm []string
	for _, m := range r.Mismatched {
		mm = append(mm, fmt.Sprintf("%s: model %v, file %v", m.Name, m.Model, m.File))
	}
	list("with another shape", mm)
	return strings.Join(parts, "; ")
}

// String summarises the report in one line.
func (r LoadReport) String() string {
	s := fmt.Sprintf("loaded %d tensors, ignored %d", len(r.Loaded), len(r.Ignored))
	if len(r.Reinitialised) > 0 {
		s += fmt.Sprintf(", re-initialised %d", len(r.Reinitialised))
	}
	if len(r.CopiedClasses) > 0 || len(r.NewClasses) > 0 {
		names := make([]string, len(r.CopiedClasses))
		for i, c := range r.CopiedClasses {
			names[i] = c.Name
		}
		s += fmt.Sprintf("; classes from the pretrained model: %s; new classes: %s",
			orNone(names), orNone(r.NewClasses))
	}
	if len(r.UnmatchedIgnore) > 0 {
		s += fmt.Sprintf("; ignore_keys matching no key: %s", strings.Join(r.UnmatchedIgnore, ", "))
	}
	if p := r.problems(); p != "" {
		s += "; " + p
	}
	return s
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// LoadStateDict copies the values of named (a state_dict: name → tensor) into the
// variables of vs with the same names, without recording gradients, converting dtype
// and device as needed. It never fails on a mismatch: missing, unexpected and
// wrongly-shaped keys are listed in the report (check report.Err() for strict loading).
// When every key starts with "module." (a checkpoint of torch's DataParallel), that
// prefix is removed first. The caller keeps ownership of named.
func LoadStateDict(vs *nn.VarStore, named map[string]*ts.Tensor, opts LoadOptions) (_ LoadReport, err error) {
	defer torch.Recover(&err)
	var rep LoadReport
	strip := len(named) > 0
	for k := range named {
		if !strings.HasPrefix(k, "module.") {
			strip = false
			break
		}
	}
	file := make(map[string]*ts.Tensor, len(named))
	for k, t := range named {
		if strip {
			k = strings.TrimPrefix(k, "module.")
		}
		if t == nil {
			return rep, fmt.Errorf("checkpoint key %q: nil tensor", k)
		}
		file[opts.AddPrefix+k] = t
	}
	vars := vs.Variables()
	root := vs.Root()
	for name := range vars {
		if !strings.HasPrefix(name, opts.AddPrefix) || opts.skipped(name) {
			continue
		}
		src, ok := file[name]
		if !ok {
			rep.Missing = append(rep.Missing, name)
			continue
		}
		dst, err := root.Get(name)
		if err != nil {
			return rep, err
		}
		ms, fs := dst.MustSize(), src.MustSize()
		if !slices.Equal(ms, fs) {
			rep.Mismatched = append(rep.Mismatched, ShapeMismatch{Name: name, Model: ms, File: fs})
			continue
		}
		if err := copyNoGrad(dst, src); err != nil {
			return rep, fmt.Errorf("loading %q: %w", name, err)
		}
		rep.Loaded = append(rep.Loaded, name)
	}
	for name := range file {
		if _, ok := vars[name]; ok && !opts.skipped(name) {
			continue
		}
		switch {
		case opts.skipped(name):
			rep.Ignored = append(rep.Ignored, name)
		case strings.HasSuffix(name, ".num_batches_tracked") && hasBatchNorm(vars, strings.TrimSuffix(name, "num_batches_tracked")):
			rep.Ignored = append(rep.Ignored, name)
		default:
			rep.Unexpected = append(rep.Unexpected, name)
		}
	}
	for _, l := range [][]string{rep.Loaded, rep.Missing, rep.Unexpected, rep.Ignored} {
		sort.Strings(l)
	}
	sort.Slice(rep.Mismatched, func(i, j int) bool { return rep.Mismatched[i].Name < rep.Mismatched[j].Name })
	return rep, nil
}

func hasBatchNorm(vars map[string]ts.Tensor, prefix string) bool {
	_, ok := vars[prefix+"running_mean"]
	return ok
}

// copyNoGrad copies src into dst in place with gradient recording off (dst may be a
// leaf that requires grad). Shapes must agree; dtype and device are converted.
func copyNoGrad(dst, src *ts.Tensor) error {
	return torch.NoGrad(func() error {
		dst.Copy_(src)
		return nil
	})
}

// LoadPTH reads a state_dict saved by torch.save (zip or legacy format, as written by
// python3-torch 1.13 and earlier) with internal/pthfile and loads it with
// LoadStateDict. A file that is not a state_dict (e.g. a whole pickled module) is an
// error naming the file. The decoded tensors are freed.
func LoadPTH(vs *nn.VarStore, path string, opts LoadOptions) (rep LoadReport, err error) {
	defer torch.Recover(&err)
	named, err := decodePTH(path)
	if err != nil {
		return rep, err
	}
	defer func() {
		for _, t := range named {
			t.MustDrop()
		}
	}()
	rep, err = LoadStateDict(vs, named, opts)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// decodePTH reads a torch.save state_dict (either of torch.save's formats) with
// internal/pthfile, which reads untrusted files safely, and makes its tensors on the CPU
// (half-precision storages as float32). Every error names the file (and the key, for a
// tensor).
func decodePTH(path string) (named map[string]*ts.Tensor, err error) {
	list, err := pthfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			// gotch panics on a storage larger than its copy buffer (4 GiB)
			err = fmt.Errorf("%s: not a readable PyTorch state_dict: %v", path, r)
		}
		if err != nil {
			dropAll(named)
			named = nil
		}
	}()
	named = make(map[string]*ts.Tensor, len(list))
	for i := range list {
		x, err := makeTensor(&list[i])
		if err != nil {
			return named, fmt.Errorf("%s: key %q: %w", path, list[i].Name, err)
		}
		named[list[i].Name] = x
	}
	return named, nil
}

// makeTensor makes the tensor a state_dict entry describes (as torch's
// _rebuild_tensor_v2) after checking that its values are finite; pthfile checked its
// view against its storage.
func makeTensor(t *pthfile.Tensor) (*ts.Tensor, error) {
	if bad := nonFinite(t.Data); bad > 0 {
		return nil, fmt.Errorf("%d non-finite values (NaN or Inf) in its storage of %d", bad, reflect.ValueOf(t.Data).Len())
	}
	x, err := ts.OfSlice(t.Data)
	if err != nil {
		return nil, err
	}
	size, stride := t.Size, t.Stride
	if len(size) == 0 {
		// a scalar (a BatchNorm's num_batches_tracked) is read as one element
		size, stride = []int64{1}, []int64{1}
	}
	if x, err = x.AsStrided(size, stride, []int64{t.Offset}, true); err != nil {
		return nil, err
	}
	if x, err = x.Contiguous(true); err != nil {
		return nil, err
	}
	return x, nil
}

// nonFinite counts the NaN and infinite values of a floating-point storage's data.
func nonFinite(data any) int {
	bad := 0
	switch d := data.(type) {
	case []float32:
		for _, v := range d {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				bad++
			}
		}
	case []float64:
		for _, v := range d {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad++
			}
		}
	}
	return bad
}
