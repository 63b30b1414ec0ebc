package backbone_test

// Test helpers for the golden data: the committed golden files written by the testdata
// generators with --set small (structure and "synthetic" feature maps from formula
// weights, reproduced here exactly), and the reference golden that the full-set
// generators write into a temporary folder at test time (internal/reftest: skipped
// without the interpreter with torch, without SSD_REFERENCE, and in -short mode).

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
)

// goldenFile is mb2_golden.json, vgg_golden.json or resnet50_golden.json.
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

// readJSON decodes testdata/name into v.
func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	reftest.Provenance(t, "testdata", name)
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
}

func readGolden(t *testing.T, name string) goldenFile {
	t.Helper()
	var g goldenFile
	readJSON(t, name, &g)
	return g
}

// checkVariables compares vars with the reference's keys (names and shapes); a variable
// that the keys lack is reported with the format unexpected (one %s, its name).
func checkVariables(t *testing.T, vars map[string]ts.Tensor, keys []keyShape, unexpected string) {
	t.Helper()
	wantNames := map[string]bool{}
	for _, k := range keys {
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
			t.Errorf(unexpected, name)
		}
	}
}

// checkStructure compares vs's variables, parameter counts and the backbone's channels
// with the reference's.
func checkStructure(t *testing.T, bb backbone.Backbone, vs *nn.VarStore, want goldenVariant) {
	t.Helper()
	checkVariables(t, vs.Variables(), want.Keys, "unexpected variable %s")
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

// checkVariantStructures builds typ with the options of each variant of the golden file
// and checks its structure (checkStructure) and Modules() (modules) in a subtest per
// variant.
func checkVariantStructures(t *testing.T, g goldenFile, typ string, options map[string]map[string]any, modules ...string) {
	t.Helper()
	for name, want := range g.Variants {
		t.Run(name, func(t *testing.T) {
			opts, ok := options[name]
			if !ok {
				t.Fatalf("no options for golden variant %q", name)
			}
			bb, vs := build(t, typ, opts)
			checkStructure(t, bb, vs, want)
			checkModules(t, bb, modules...)
		})
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

// syntheticFeatures fills vs with the formula values and returns bb's feature maps for
// the formula input of size hw×hw (eval mode, no gradients); the caller owns them.
func syntheticFeatures(t *testing.T, bb backbone.Backbone, vs *nn.VarStore, hw int64) []*ts.Tensor {
	t.Helper()
	fillSynthetic(vs)
	x := syntheticTensor("input", []int64{1, 3, hw, hw})
	defer x.MustDrop()
	return evalForward(t, bb, x)
}

// compareSynthetic checks feats against the golden summaries and returns the largest
// difference of a sampled value relative to the map's largest magnitude (the golden's
// abs_max, taken over all its values), as reftest.Compare measures it.
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
		scale := w.AbsMax
		if scale == 0 {
			scale = 1
		}
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

// checkBackboneSynthetic builds typ with opts, runs it on the formula weights and input
// (eval mode) and compares its feature maps with the golden variant's synthetic ones:
// max |diff| / max |ref| at most syntheticTolerance.
func checkBackboneSynthetic(t *testing.T, typ string, opts map[string]any, variant string, want goldenVariant) {
	t.Helper()
	if want.Synthetic == nil {
		t.Fatalf("variant %s has no synthetic features", variant)
	}
	bb, vs := build(t, typ, opts)
	start := time.Now()
	hw := int64(want.Synthetic.InputHW)
	feats := syntheticFeatures(t, bb, vs, hw)
	defer dropAll(feats)
	t.Logf("synthetic fill and eval forward, batch 1, %d×%d: %v", hw, hw, time.Since(start))
	if d := compareSynthetic(t, feats, want.Synthetic.Features); d > syntheticTolerance {
		t.Errorf("max |diff| / max |ref| = %.3g, want ≤ %g", d, syntheticTolerance)
	} else {
		t.Logf("max |diff| / max |ref| = %.3g", d)
	}
}

// checkVariantSynthetics runs checkBackboneSynthetic for each named variant of the
// golden file, typ built with the variant's options, in a subtest per variant.
func checkVariantSynthetics(t *testing.T, g goldenFile, typ string, options map[string]map[string]any, variants ...string) {
	t.Helper()
	for _, name := range variants {
		t.Run(name, func(t *testing.T) {
			checkBackboneSynthetic(t, typ, options[name], name, g.Variants[name])
		})
	}
}

// syntheticTolerance bounds max |diff| / max |ref| against the committed synthetic
// goldens: feature maps of float32 convolutions whose summation order depends on the CPU,
// BLAS kernel and thread count, which reftest.Float32Net bounds; a misplaced or missing
// variable moves them by 0.1 or more.
const syntheticTolerance = reftest.Float32Net

// referenceGolden exports nothing itself: it takes the reference checkout from
// internal/reftest (SSD_REFERENCE; the test is skipped, or failed under
// SSD_REQUIRE_REFERENCE=1, without it or the interpreter with torch, and in -short mode)
// and runs the generator testdata/script there (full set) into a temporary folder, which
// it returns with the output (state dicts and outputs too big to commit).
func referenceGolden(t *testing.T, script string) string {
	t.Helper()
	ref := reftest.Reference(t)
	dir := t.TempDir()
	start := time.Now()
	s := []string{reftest.Python(), filepath.Join("testdata", script), ref, dir}
	if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(s, " "), err, out)
	}
	t.Logf("reference golden generated in %v", time.Since(start))
	return dir
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p+".") {
			return true
		}
	}
	return false
}

// loadReference loads the .pth file into vs with model.LoadPTH and opts: every load
// problem fails the test, and so does an ignored key other than num_batches_tracked or
// one under a module of opts.Skip.
func loadReference(t *testing.T, vs *nn.VarStore, path string, opts model.LoadOptions) model.LoadReport {
	t.Helper()
	rep, err := model.LoadPTH(vs, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range rep.Ignored {
		if !strings.HasSuffix(k, ".num_batches_tracked") && !hasAnyPrefix(k, opts.Skip) {
			t.Errorf("ignored key %s", k)
		}
	}
	return rep
}

// readPickle decodes a file of named tensors that torch.save wrote; they are freed when
// the test ends.
func readPickle(t *testing.T, path string) map[string]*ts.Tensor {
	t.Helper()
	want, err := pickle.Decode(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, x := range want {
			x.MustDrop()
		}
	})
	return want
}

// refComparison gathers max |got - reference| / max |reference| (reftest.Compare) over
// the outputs compared with a reference golden.
type refComparison struct {
	worst  float64
	report []string
}

// add compares got with ref (a shape mismatch is an error naming label) and records the
// difference under key.
func (c *refComparison) add(t *testing.T, label, key string, got, ref *ts.Tensor) {
	t.Helper()
	if g, r := got.MustSize(), ref.MustSize(); !slices.Equal(g, r) {
		t.Errorf("%s: shape %v, reference %v", label, g, r)
		return
	}
	d := reftest.Compare(got.Float64Values(), ref.Float64Values())
	c.report = append(c.report, fmt.Sprintf("%s: %.2g (max |diff| %.2g, max |ref| %.3g)", key, d.Rel, d.Abs, d.Scale))
	if math.IsNaN(d.Rel) || d.Rel > c.worst {
		c.worst = d.Rel
	}
}

// check logs the relative differences after prefix and fails if one is above
// reftest.Float32Net: the outputs are float32 convolutional networks' (see there).
func (c *refComparison) check(t *testing.T, prefix string) {
	t.Helper()
	t.Logf("%s%s", prefix, strings.Join(c.report, ", "))
	if !(c.worst <= reftest.Float32Net) {
		t.Errorf("max |diff| / max |ref| = %.3g > %g", c.worst, reftest.Float32Net)
	}
}
