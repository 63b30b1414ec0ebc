package backbone_test

// Test helpers of the mobilenet_v2 and vgg16 tests: the committed golden files written by
// testdata/gen_golden_mb2_vgg.py --set small, its synthetic variable formula, and
// comparisons.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// goldenFile is mb2_golden.json or vgg_golden.json.
type goldenFile struct {
	Variants map[string]goldenVariant `json:"variants"`
}

// goldenVariant is what the reference builds for one configuration.
type goldenVariant struct {
	Keys      []keyShape       `json:"keys"`   // backbone state_dict keys, without num_batches_tracked
	Params    map[string]int64 `json:"params"` // parameter count per top-level module
	Channels  []int            `json:"channels"`
	Synthetic *struct {
		InputHW  int             `json:"input_hw"`
		Features []goldenFeature `json:"features"`
	} `json:"synthetic"`
}

type keyShape struct {
	Name  string
	Shape []int64
}

func (k *keyShape) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || len(raw) != 2 {
		return fmt.Errorf("key entry %s: want [name, shape]", b)
	}
	if err := json.Unmarshal(raw[0], &k.Name); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &k.Shape)
}

// goldenFeature summarises one feature map: its shape, sum, largest magnitude and every
// Step-th value of its flattened data.
type goldenFeature struct {
	Shape  []int64   `json:"shape"`
	Sum    float64   `json:"sum"`
	AbsMax float64   `json:"abs_max"`
	Step   int       `json:"step"`
	Sample []float64 `json:"sample"`
}

func readGolden(t *testing.T, name string) goldenFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return g
}

// build creates a backbone through the registry in a fresh VarStore.
func build(t *testing.T, typ string, opts map[string]any) (backbone.Backbone, *nn.VarStore) {
	t.Helper()
	vs := nn.NewVarStore(gotch.CPU)
	bb, err := backbone.Build(registry.Ref{Type: typ, Options: opts}, vs.Root())
	if err != nil {
		t.Fatalf("%s %v: %v", typ, opts, err)
	}
	return bb, vs
}

// checkStructure compares vs's variables, parameter counts and the backbone's channels
// with the reference's.
func checkStructure(t *testing.T, bb backbone.Backbone, vs *nn.VarStore, want goldenVariant) {
	t.Helper()
	vars := vs.Variables()
	wantNames := map[string]bool{}
	for _, k := range want.Keys {
		wantNames[k.Name] = true
		v, ok := vars[k.Name]
		if !ok {
			t.Errorf("missing variable %s %v", k.Name, k.Shape)
			continue
		}
		if got := v.MustSize(); !slices.Equal(got, k.Shape) {
			t.Errorf("%s: shape %v, reference %v", k.Name, got, k.Shape)
		}
	}
	for name := range vars {
		if !wantNames[name] {
			t.Errorf("unexpected variable %s", name)
		}
	}
	got := paramCounts(vs)
	for _, m := range []string{"base_net", "source_layer_add_ons", "extras"} {
		if got[m] != want.Params[m] {
			t.Errorf("%s: %d parameters, reference %d", m, got[m], want.Params[m])
		}
	}
	for m := range got {
		if !slices.Contains(bb.Modules(), m) {
			t.Errorf("variables under %q, which Modules() %v does not list", m, bb.Modules())
		}
	}
	if !slices.Equal(bb.Channels(), want.Channels) {
		t.Errorf("Channels() = %v, reference %v", bb.Channels(), want.Channels)
	}
}

// paramCounts sums the elements of the trainable variables (not the batch norms'
// running statistics) per top-level module.
func paramCounts(vs *nn.VarStore) map[string]int64 {
	out := map[string]int64{}
	for name, v := range vs.Variables() {
		if strings.HasSuffix(name, ".running_mean") || strings.HasSuffix(name, ".running_var") {
			continue
		}
		mod, _, _ := strings.Cut(name, ".")
		out[mod] += int64(v.Numel())
	}
	return out
}

// fnv1a is the 32-bit FNV-1a hash of s.
func fnv1a(s string) uint64 {
	h := uint64(2166136261)
	for i := 0; i < len(s); i++ {
		h = ((h ^ uint64(s[i])) * 16777619) & 0xFFFFFFFF
	}
	return h
}

// syntheticValues mirrors synthetic() of gen_golden_mb2_vgg.py: the formula values of
// the variable (or "input") name with the given shape.
func syntheticValues(name string, shape []int64) []float32 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	seed := fnv1a(name)
	out := make([]float32, n)
	convScale := 0.0
	if len(shape) == 4 {
		convScale = math.Sqrt(3) * math.Sqrt(2/float64(n/shape[0]))
	}
	for j := int64(0); j < n; j++ {
		h := (seed + uint64(j+1)*2654435761) & 0xFFFFFFFF
		h ^= h >> 16
		h = (h * 0x45D9F3B) & 0xFFFFFFFF
		h ^= h >> 16
		u := float64(h) / 4294967296.0
		var v float64
		switch {
		case name == "input":
			v = 2*u - 1
		case len(shape) == 4:
			v = float64(2*u-1) * convScale
		case strings.HasSuffix(name, "running_var"), strings.HasSuffix(name, "weight"):
			v = u + 0.5
		default: // bias, running_mean
			v = float64(2*u-1) * 0.2
		}
		out[j] = float32(v)
	}
	return out
}

func syntheticTensor(name string, shape []int64) *ts.Tensor {
	return ts.MustOfSlice(syntheticValues(name, shape)).MustView(shape, true)
}

// fillSynthetic sets every variable of vs to its formula values (through detached
// aliases, so that autograd does not record the copies).
func fillSynthetic(vs *nn.VarStore) {
	for name, v := range vs.Variables() {
		src := syntheticTensor(name, v.MustSize())
		alias := v.MustDetach(false)
		alias.Copy_(src)
		alias.MustDrop()
		src.MustDrop()
	}
}

// gradMode runs f with libtorch's gradient recording on or off (per OS thread, so the
// goroutine stays on its thread meanwhile), then restores it.
func gradMode(t *testing.T, enabled bool, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := torch.SetGradEnabled(enabled)
	if err != nil {
		t.Fatal(err)
	}
	defer torch.SetGradEnabled(prev)
	f()
}

// compareSynthetic checks feats against the golden summaries and returns the largest
// difference of a sampled value relative to max(1, the map's largest magnitude).
func compareSynthetic(t *testing.T, feats []*ts.Tensor, want []goldenFeature) float64 {
	t.Helper()
	if len(feats) < len(want) {
		t.Fatalf("%d feature maps, want %d", len(feats), len(want))
	}
	worst := 0.0
	for i, w := range want {
		if got := feats[i].MustSize(); !slices.Equal(got, w.Shape) {
			t.Errorf("feature %d: shape %v, reference %v", i, got, w.Shape)
			continue
		}
		vals := feats[i].Float64Values()
		scale := math.Max(1, w.AbsMax)
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		if d := math.Abs(sum-w.Sum) / (scale * float64(len(vals))); d > syntheticTolerance {
			t.Errorf("feature %d: sum %.6g, reference %.6g", i, sum, w.Sum)
		}
		if len(w.Sample) != (len(vals)+w.Step-1)/w.Step {
			t.Fatalf("feature %d: %d samples of step %d for %d values", i, len(w.Sample), w.Step, len(vals))
		}
		for k, ref := range w.Sample {
			if d := math.Abs(vals[k*w.Step]-ref) / scale; d > worst {
				worst = d
			}
		}
	}
	return worst
}

// dropAll frees the tensors.
func dropAll(tensors []*ts.Tensor) {
	for _, x := range tensors {
		x.MustDrop()
	}
}

// backwardAll sums every element of the feature maps, runs the backward pass and checks
// that every trainable variable of vs got a finite, not entirely zero gradient.
func backwardAll(t *testing.T, vs *nn.VarStore, feats []*ts.Tensor) {
	t.Helper()
	var total *ts.Tensor
	for _, f := range feats {
		s := f.MustSum(gotch.Float, false)
		if total == nil {
			total = s
			continue
		}
		total = total.MustAdd(s, true)
		s.MustDrop()
	}
	total.MustBackward()
	total.MustDrop()
	for name, v := range vs.Variables() {
		if !v.MustRequiresGrad() {
			continue
		}
		g := v.MustGrad(false)
		abs := g.MustAbs(false)
		mx := abs.MustMax(false).Float64Values(true)[0]
		sum := abs.MustSum(gotch.Double, true).Float64Values(true)[0]
		g.MustDrop()
		if math.IsNaN(sum) || math.IsInf(sum, 0) || mx == 0 {
			t.Errorf("%s: gradient max |g| %v, sum |g| %v", name, mx, sum)
		}
	}
}

// syntheticTolerance bounds max |diff| / max(1, max |ref|) against the committed synthetic
// goldens. Their hash-filled weights give large activations, so the summation order of
// the BLAS and CPU kernels in use (netlib vs OpenBLAS, AVX2 vs AVX-512 paths) moves
// results by up to ~7e-5 relative between machines; a misplaced or missing variable moves
// them by 0.1 or more, so 2e-4 still separates the two by over 500 times.
const syntheticTolerance = 2e-4
