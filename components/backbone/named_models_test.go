package backbone_test

// Tests of the built-in bases that compose this package's resnet50, ssd7 and vgg16_512
// backbones (experiments/base/ssd-resnet50.hcl, ssd7.hcl, ssd512-vgg16.hcl): each is loaded
// the way `runner plan` loads an experiment inheriting it, its model is built and its
// feature maps are checked against its anchors, and its priors against the formula of the
// implementation it follows.

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	_ "github.com/ssdrunner/ssdrunner/components/all" // the registrations an experiment file needs
	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// loadBase loads an experiment that inherits builtin:name and trains on a tiny shapes
// dataset, as a user's file would.
func loadBase(t *testing.T, name string) *config.Experiment {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+"-shapes.hcl")
	src := "inherits = \"builtin:" + name + "\"\ndata {\n  train \"shapes\" {\n    count = 4\n  }\n  batch_size = 2\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, diags := config.Load(path, config.Options{})
	if diags.HasErrors() {
		t.Fatalf("builtin:%s: %v", name, diags)
	}
	return &res.Experiment
}

// buildBase builds the anchors and the model of an experiment (classes from its training
// dataset).
func buildBase(t *testing.T, e *config.Experiment) (anchors.Generator, *model.SSD) {
	t.Helper()
	gen, err := anchors.Build(e.Model.Anchors)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Build(e.Data.Train, dataset.Env{BaseDir: "."})
	if err != nil {
		t.Fatal(err)
	}
	vs := nn.NewVarStore(gotch.CPU)
	m, err := model.Build(vs, e.Model.Backbone, e.Model.Head, anchors.BoxesPerLocation(gen.FeatureMaps()), len(ds.ClassNames()))
	if err != nil {
		t.Fatal(err)
	}
	return gen, m
}

// TestNamedBases builds each new base's model and checks what `runner plan` checks: the
// backbone's feature maps at the anchors' image size have the anchors' sizes; and the
// prior counts (8732, 7160, 24564) and parameter counts per module.
func TestNamedBases(t *testing.T) {
	for _, c := range []struct {
		name, backbone string
		priors         int
		sizes          []int
		params         map[string]int64 // backbone modules
	}{
		{"ssd-resnet50", "resnet50", 8732, []int{38, 19, 10, 5, 3, 1},
			map[string]int64{"base_net": 8543296, "extras": 3773696}},
		{"ssd7", "ssd7", 7160, []int{37, 18, 9, 4},
			map[string]int64{"base_net": 81360, "extras": 62592}},
		{"ssd512-vgg16", "vgg16_512", 24564, []int{64, 32, 16, 8, 4, 2, 1},
			map[string]int64{"base_net": 20483904, "source_layer_add_ons": 512, "extras": 3016960}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := loadBase(t, c.name)
			if e.Model.Backbone.Type != c.backbone {
				t.Fatalf("backbone %q, want %q", e.Model.Backbone.Type, c.backbone)
			}
			gen, m := buildBase(t, e)
			if n := anchors.NumPriors(gen.FeatureMaps()); n != c.priors {
				t.Errorf("%d priors, want %d", n, c.priors)
			}
			got, err := m.FeatureMapSizes(gen.ImageSize())
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for _, fm := range gen.FeatureMaps() {
				want = append(want, fm.Size)
			}
			if !slices.Equal(got, want) || !slices.Equal(got, c.sizes) {
				t.Errorf("feature maps %v at %d, anchors %v, want %v", got, gen.ImageSize(), want, c.sizes)
			}
			var total int64
			for _, mp := range m.ParamCounts() {
				total += mp.Params
				if w, ok := c.params[mp.Module]; ok && mp.Params != w {
					t.Errorf("%s: %d parameters, want %d", mp.Module, mp.Params, w)
				}
			}
			t.Logf("%s: %d priors, feature maps %v, %d parameters with 9 classes", c.name, anchors.NumPriors(gen.FeatureMaps()), got, total)
		})
	}
}

// TestSSDResNet50PriorsMatchNVIDIA compares the base's priors with NVIDIA's DefaultBoxes
// (dboxes300_coco) as its utils.py defines them: boxes per map in the order (sk, sk),
// (sqrt(sk·sk+1), …), then (sk·sqrt(a), sk/sqrt(a)) and its transpose per ratio a; centres
// ((j+0.5)/fk, (i+0.5)/fk) with fk = 300/step, in float64, then float32 and clamped to
// [0, 1], all four coordinates. NVIDIA lists a map's priors box by box (each box over all
// locations); ours go location by location. After that reordering, the priors are equal
// except where NVIDIA's clamp moves a centre: the 10×10 map's last row and column, whose
// centre 9.5·32/300 = 1.01333 becomes 1 (19 locations × 6 boxes = 114 priors).
func TestSSDResNet50PriorsMatchNVIDIA(t *testing.T) {
	gen, err := anchors.Build(loadBase(t, "ssd-resnet50").Model.Anchors)
	if err != nil {
		t.Fatal(err)
	}
	ours := priorValues(t, gen)
	feat := []int{38, 19, 10, 5, 3, 1}
	steps := []float64{8, 16, 32, 64, 100, 300}
	scales := []float64{21, 45, 99, 153, 207, 261, 315}
	ratios := [][]float64{{2}, {2, 3}, {2, 3}, {2, 3}, {2}, {2}}
	var nvidia [][4]float64 // NVIDIA's order
	var index []int         // index[k]: our index of NVIDIA's prior k
	offset := 0
	for l, f := range feat {
		sk1, sk2 := scales[l]/300, scales[l+1]/300
		sizes := [][2]float64{{sk1, sk1}, {math.Sqrt(sk1 * sk2), math.Sqrt(sk1 * sk2)}}
		for _, a := range ratios[l] {
			w, h := sk1*math.Sqrt(a), sk1/math.Sqrt(a)
			sizes = append(sizes, [2]float64{w, h}, [2]float64{h, w})
		}
		fk := 300 / steps[l]
		for b, wh := range sizes {
			for i := 0; i < f; i++ {
				for j := 0; j < f; j++ {
					nvidia = append(nvidia, [4]float64{(float64(j) + 0.5) / fk, (float64(i) + 0.5) / fk, wh[0], wh[1]})
					index = append(index, offset+(i*f+j)*len(sizes)+b)
				}
			}
		}
		offset += f * f * len(sizes)
	}
	if len(nvidia) != 8732 || len(ours) != 8732 {
		t.Fatalf("%d NVIDIA priors, %d ours; want 8732", len(nvidia), len(ours))
	}
	clamped, worst := 0, 0.0
	for k, p := range nvidia {
		o := ours[index[k]]
		moved := false
		for c := range p {
			want := float64(float32(p[c])) // NVIDIA: float64, then a float32 tensor, then clamp_(0, 1)
			if c < 2 && want > 1 {
				// NVIDIA clamps this centre to 1; we keep it.
				if d := math.Abs(float64(o[c]) - want); d > 1e-7 {
					t.Errorf("prior %d: centre %v, want the unclamped %v", index[k], o[c], want)
				}
				moved = true
				continue
			}
			worst = math.Max(worst, math.Abs(float64(o[c])-math.Min(math.Max(want, 0), 1)))
		}
		if moved {
			clamped++
		}
	}
	// Priors are per-element formulas (no sums whose order the CPU could change) in
	// [0, 1]: 1e-7 is about two float32 ulps there, what rounding NVIDIA's float64 values
	// to float32 leaves; a wrong scale or step moves a prior by 1e-3 or more.
	if worst > 1e-7 {
		t.Errorf("max |diff| %.3g outside the clamped centres, want ≤ 1e-7", worst)
	}
	if clamped != 114 {
		t.Errorf("%d priors whose centre NVIDIA clamps to 1, want 114", clamped)
	}
	t.Logf("equal to NVIDIA's DefaultBoxes (reordered) within %.3g, but for %d priors whose centre NVIDIA clamps from 1.0133 to 1", worst, clamped)
}

// kerasAnchors computes the anchors of the Keras project's AnchorBoxes layer for a square
// image of side img (keras_layers/keras_layer_AnchorBoxes.py with steps and offsets None
// or given, normalize_coords, clip_boxes False): per location, for each aspect ratio r in
// order, (s·sqrt(r), s/sqrt(r)) relative to the image, and for r = 1 also the box of side
// sqrt(s·s_next) right after it; centres (j+0.5)·step/img with step img/f by default. They
// are returned in the Keras order (rows, columns, boxes), in float64.
func kerasAnchors(img float64, feat []int, steps []float64, scales []float64, ratios [][]float64) [][4]float64 {
	var out [][4]float64
	for l, f := range feat {
		step := img / float64(f)
		if steps != nil {
			step = steps[l]
		}
		var wh [][2]float64
		for _, r := range ratios[l] {
			wh = append(wh, [2]float64{scales[l] * math.Sqrt(r), scales[l] / math.Sqrt(r)})
			if r == 1 {
				big := math.Sqrt(scales[l] * scales[l+1])
				wh = append(wh, [2]float64{big, big})
			}
		}
		for i := 0; i < f; i++ {
			for j := 0; j < f; j++ {
				for _, b := range wh {
					out = append(out, [4]float64{(float64(j) + 0.5) * step / img, (float64(i) + 0.5) * step / img, b[0], b[1]})
				}
			}
		}
	}
	return out
}

// TestSSD7PriorsMatchKeras compares the ssd7 base's priors with the Keras SSD7's anchors
// (ssd7_training's settings on a 300×300 image: scales 0.08…0.96, aspect ratios 0.5, 1, 2,
// two boxes for ratio 1): the same four boxes per location, Keras listing them as ratio
// 0.5, 1, the larger square, 2, ours as 1, the larger square, 2, 0.5.
func TestSSD7PriorsMatchKeras(t *testing.T) {
	gen, err := anchors.Build(loadBase(t, "ssd7").Model.Anchors)
	if err != nil {
		t.Fatal(err)
	}
	ours := priorValues(t, gen)
	keras := kerasAnchors(300, []int{37, 18, 9, 4}, nil, []float64{0.08, 0.16, 0.32, 0.64, 0.96},
		[][]float64{{0.5, 1, 2}, {0.5, 1, 2}, {0.5, 1, 2}, {0.5, 1, 2}})
	ourBox := []int{3, 0, 1, 2} // Keras box b of a location is our box ourBox[b]
	comparePriors(t, ours, keras, func(k int) int { return k/4*4 + ourBox[k%4] }, 1e-6)
}

// TestSSD512PriorsMatchKeras compares the ssd512-vgg16 base's priors (preset ssd512, no
// clipping) with the Keras ssd512's anchors (ssd512_inference's settings: steps 8…512,
// scales 0.07…1.05, aspect ratios [1, 2, 0.5] or [1, 2, 0.5, 3, 1/3], two boxes for ratio
// 1, clip_boxes False): same boxes in the same order.
func TestSSD512PriorsMatchKeras(t *testing.T) {
	gen, err := anchors.Build(loadBase(t, "ssd512-vgg16").Model.Anchors)
	if err != nil {
		t.Fatal(err)
	}
	ours := priorValues(t, gen)
	r2 := []float64{1, 2, 0.5}
	r3 := []float64{1, 2, 0.5, 3, 1.0 / 3}
	keras := kerasAnchors(512, []int{64, 32, 16, 8, 4, 2, 1}, []float64{8, 16, 32, 64, 128, 256, 512},
		[]float64{0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05}, [][]float64{r2, r3, r3, r3, r3, r2, r2})
	comparePriors(t, ours, keras, func(k int) int { return k }, 1e-6)
}

// comparePriors checks that ours[index(k)] equals want[k] within tol for every k (priors
// are in [0, 1] and computed element by element, so tol is a few float32 ulps, see above).
func comparePriors(t *testing.T, ours [][4]float32, want [][4]float64, index func(int) int, tol float64) {
	t.Helper()
	if len(ours) != len(want) {
		t.Fatalf("%d priors, want %d", len(ours), len(want))
	}
	worst := 0.0
	for k, w := range want {
		o := ours[index(k)]
		for c := range w {
			worst = math.Max(worst, math.Abs(float64(o[c])-w[c]))
		}
	}
	if worst > tol {
		t.Errorf("max |diff| %.3g, want ≤ %g", worst, tol)
	} else {
		t.Logf("%d priors, max |diff| %.3g", len(ours), worst)
	}
}

// priorValues returns the generator's priors as rows.
func priorValues(t *testing.T, gen anchors.Generator) [][4]float32 {
	t.Helper()
	p, err := gen.Priors()
	if err != nil {
		t.Fatal(err)
	}
	vals := p.Float64Values(true)
	out := make([][4]float32, len(vals)/4)
	for i := range out {
		for c := 0; c < 4; c++ {
			out[i][c] = float32(vals[4*i+c])
		}
	}
	return out
}
