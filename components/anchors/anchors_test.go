package anchors

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// tol is the largest difference allowed against the golden priors. Priors are computed
// element by element from the same formulas (no sum whose order could change with the CPU,
// BLAS or thread count), in [0, 1] where a float32 ulp is at most 6e-8: 1e-6 (~16 ulps)
// absorbs only where the two sides round intermediates differently, while a wrong size,
// step or aspect ratio moves a prior by 1e-3 or more.
const tol = 1e-6

// golden reads testdata/name (a float32 [N,4] .npy written by gen_golden.py).
func golden(t *testing.T, name string) (vals []float64, n int) {
	t.Helper()
	g, err := ts.ReadNpy(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer g.MustDrop()
	size := g.MustSize()
	if len(size) != 2 || size[1] != 4 || g.DType() != gotch.Float {
		t.Fatalf("%s: shape %v dtype %v, want [N,4] float32", name, size, g.DType())
	}
	return g.Float64Values(), int(size[0])
}

// priorsOf runs g.Priors and checks its shape, dtype and agreement with FeatureMaps.
func priorsOf(t *testing.T, g Generator) []float64 {
	t.Helper()
	p, err := g.Priors()
	if err != nil {
		t.Fatal(err)
	}
	defer p.MustDrop()
	size := p.MustSize()
	if len(size) != 2 || size[1] != 4 || p.DType() != gotch.Float {
		t.Fatalf("priors: shape %v dtype %v, want [N,4] float32", size, p.DType())
	}
	if n := NumPriors(g.FeatureMaps()); int(size[0]) != n {
		t.Fatalf("priors: %d rows, FeatureMaps count %d", size[0], n)
	}
	return p.Float64Values()
}

func compare(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d priors, want %d", what, len(got)/4, len(want)/4)
	}
	worst, at := 0.0, 0
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > tol || math.IsNaN(worst) {
		t.Fatalf("%s: prior %d col %d = %v, want %v (max diff %g > %g)", what, at/4, at%4, got[at], want[at], worst, tol)
	}
	t.Logf("%s: %d priors, max abs diff %g", what, len(got)/4, worst)
}

func build(t *testing.T, typ string, opts map[string]any) Generator {
	t.Helper()
	g, err := Build(registry.Ref{Type: typ, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSSDSpecPresetsMatchReference(t *testing.T) {
	for _, c := range []struct {
		preset string
		count  int
		boxes  []int
	}{
		{"mobilenet", 3000, []int{6, 6, 6, 6, 6, 6}},
		{"vgg", 8732, []int{4, 6, 6, 6, 4, 4}},
		{"squeezenet", 2568, []int{6, 6, 6, 6, 6, 6}},
	} {
		t.Run(c.preset, func(t *testing.T) {
			g := build(t, "ssd_spec", map[string]any{"preset": c.preset})
			if g.ImageSize() != 300 || NumPriors(g.FeatureMaps()) != c.count {
				t.Fatalf("image size %d, %d priors; want 300, %d", g.ImageSize(), NumPriors(g.FeatureMaps()), c.count)
			}
			if got := BoxesPerLocation(g.FeatureMaps()); !slices.Equal(got, c.boxes) {
				t.Fatalf("boxes per location %v, want %v", got, c.boxes)
			}
			want, n := golden(t, "ref_"+c.preset+".npy")
			if n != c.count {
				t.Fatalf("golden has %d priors, want %d", n, c.count)
			}
			compare(t, c.preset, priorsOf(t, g), want)
		})
	}
}

// specOptions writes a preset's specs as an experiment decoder would hand them over.
func specOptions(preset string) []any {
	var out []any
	for _, s := range ssdSpecPresets[preset] {
		out = append(out, map[string]any{
			"feature_map_size": s.FeatureMapSize, "shrinkage": s.Shrinkage,
			"min_size": s.MinSize, "max_size": s.MaxSize, "aspect_ratios": s.AspectRatios,
		})
	}
	return out
}

func TestSSDSpecBlocksWinOverPreset(t *testing.T) {
	g := build(t, "ssd_spec", map[string]any{"preset": "vgg", "spec": specOptions("mobilenet")})
	want, _ := golden(t, "ref_mobilenet.npy")
	compare(t, "mobilenet spec blocks under preset vgg", priorsOf(t, g), want)

	fm := g.FeatureMaps()
	if fm[0] != (FeatureMap{Size: 19, Shrinkage: 16, BoxesPerLocation: 6, Count: 2166}) {
		t.Fatalf("first feature map %+v", fm[0])
	}
}

func TestSSDSpecClamp(t *testing.T) {
	clamped := priorsOf(t, build(t, "ssd_spec", map[string]any{"preset": "mobilenet"}))
	raw := priorsOf(t, build(t, "ssd_spec", map[string]any{"preset": "mobilenet", "clamp": false}))
	// The last layer's large box is sqrt(285*330)/300 wide: clamping cuts it to 1.
	last := len(raw) - 6*4
	wantRaw := math.Sqrt(285*330) / 300
	if got := raw[last+4+2]; math.Abs(got-wantRaw) > tol {
		t.Fatalf("unclamped large box width %v, want %v", got, wantRaw)
	}
	if got := clamped[last+4+2]; got != 1 {
		t.Fatalf("clamped large box width %v, want 1", got)
	}
	for i := range raw {
		want := math.Min(math.Max(raw[i], 0), 1)
		if clamped[i] != want {
			t.Fatalf("value %d: clamped %v, want %v", i, clamped[i], want)
		}
	}
}

type tvConfig struct {
	ImageSize       int         `json:"image_size"`
	FeatureMapSizes []int       `json:"feature_map_sizes"`
	AspectRatios    [][]float64 `json:"aspect_ratios"`
	Scales          []float64   `json:"scales"`
	Steps           []float64   `json:"steps"`
	Clip            bool        `json:"clip"`
	Count           int         `json:"count"`
}

func tvConfigs(t *testing.T) map[string]tvConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tv_configs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]tvConfig
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMinMaxScaleMatchesTorchvision(t *testing.T) {
	cfgs := tvConfigs(t)
	for name, wantCount := range map[string]int{"ssd300": 8732, "ssd512": 24564, "ssdlite320": 3234} {
		t.Run(name, func(t *testing.T) {
			tc, ok := cfgs[name]
			if !ok || tc.Count != wantCount {
				t.Fatalf("tv_configs.json: %s missing or count %d, want %d", name, tc.Count, wantCount)
			}
			want, _ := golden(t, "tv_"+name+".npy")

			// The preset.
			g := build(t, "min_max_scale", map[string]any{"preset": name})
			if g.ImageSize() != tc.ImageSize || NumPriors(g.FeatureMaps()) != wantCount {
				t.Fatalf("preset: image size %d, %d priors", g.ImageSize(), NumPriors(g.FeatureMaps()))
			}
			for i, fm := range g.FeatureMaps() {
				if fm.Size != tc.FeatureMapSizes[i] || fm.BoxesPerLocation != 2+2*len(tc.AspectRatios[i]) {
					t.Fatalf("preset layer %d: %+v vs torchvision size %d ratios %v", i, fm, tc.FeatureMapSizes[i], tc.AspectRatios[i])
				}
			}
			compare(t, name+" preset", priorsOf(t, g), want)

			// The same configuration written out in full, as torchvision states it.
			var layers []any
			for i, f := range tc.FeatureMapSizes {
				l := map[string]any{"feature_map_size": f, "aspect_ratios": tc.AspectRatios[i]}
				if tc.Steps != nil {
					l["step"] = tc.Steps[i]
				}
				layers = append(layers, l)
			}
			opts := map[string]any{"image_size": tc.ImageSize, "clip": tc.Clip, "layer": layers}
			if name == "ssdlite320" {
				opts["min_ratio"], opts["max_ratio"] = 0.2, 0.95
				if got := LinearScales(0.2, 0.95, len(layers)); !slices.Equal(got, tc.Scales) {
					t.Fatalf("LinearScales = %v, torchvision %v", got, tc.Scales)
				}
			} else {
				opts["scales"] = tc.Scales
			}
			compare(t, name+" explicit", priorsOf(t, build(t, "min_max_scale", opts)), want)
		})
	}
}

func TestMinMaxScaleDetails(t *testing.T) {
	// Defaults: torchvision's 0.15..0.9, no steps, clip.
	g := build(t, "min_max_scale", map[string]any{"image_size": 100, "layer": []any{
		map[string]any{"feature_map_size": 2, "aspect_ratios": []float64{4}},
		map[string]any{"feature_map_size": 1},
	}})
	p := priorsOf(t, g)
	s0, s1 := 0.15, 0.9
	want := [][4]float64{
		{0.25, 0.25, s0, s0}, {0.25, 0.25, math.Sqrt(s0 * s1), math.Sqrt(s0 * s1)},
		{0.25, 0.25, s0 * 2, s0 / 2}, {0.25, 0.25, s0 / 2, s0 * 2},
		{0.75, 0.25, s0, s0}, // next location: x moves first
	}
	for i, w := range want {
		for j := range w {
			if math.Abs(p[4*i+j]-w[j]) > tol {
				t.Fatalf("prior %d = %v, want %v", i, p[4*i:4*i+4], w)
			}
		}
	}
	if p[4*8+1] != 0.75 { // third location (row 1, column 0)
		t.Fatalf("third location cy %v, want 0.75", p[4*8+1])
	}
	if n := len(p) / 4; n != 2*2*4+2 {
		t.Fatalf("%d priors, want 18", n)
	}
	lastW := p[len(p)-2] // sqrt(0.9*1) square of the 1x1 layer
	if math.Abs(lastW-math.Sqrt(0.9)) > tol {
		t.Fatalf("last large box %v, want %v", lastW, math.Sqrt(0.9))
	}
	if fm := g.FeatureMaps(); fm[0].Shrinkage != 50 || fm[1].Shrinkage != 100 {
		t.Fatalf("shrinkage %v %v, want 50 100", fm[0].Shrinkage, fm[1].Shrinkage)
	}
	// clip=false keeps the 1.05 boxes of ssd300's last layer.
	raw := priorsOf(t, build(t, "min_max_scale", map[string]any{"preset": "ssd300", "clip": false}))
	if w := raw[len(raw)-4*4+4+2]; math.Abs(w-math.Sqrt(0.87*1.05)) > tol {
		t.Fatalf("unclipped ssd300 large box %v, want %v", w, math.Sqrt(0.87*1.05))
	}
	if got := LinearScales(0.3, 0.6, 1); !slices.Equal(got, []float64{0.3, 0.6}) {
		t.Fatalf("LinearScales one layer = %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	layer := []any{map[string]any{"feature_map_size": 3}}
	cases := []struct {
		typ  string
		opts map[string]any
		want string
	}{
		{"ssd_spec", map[string]any{}, "give spec blocks or a preset (mobilenet, squeezenet, vgg)"},
		{"ssd_spec", map[string]any{"preset": "mobilnet"}, `unknown preset "mobilnet"; did you mean "mobilenet"?`},
		{"ssd_spec", map[string]any{"preset": "vgg", "image_size": 512}, `preset "vgg" is defined for image_size 300, got 512`},
		{"ssd_spec", map[string]any{"preset": "vgg", "image_size": 0}, "image_size must be > 0"},
		{"ssd_spec", map[string]any{"spec": []any{map[string]any{"feature_map_size": 3, "shrinkage": 100, "min_size": 0, "max_size": 1}}}, "spec[0]: min_size must be > 0"},
		{"ssd_spec", map[string]any{"spec": []any{map[string]any{"feature_map_size": 3, "shrinkage": 100, "min_size": 1, "max_size": 2, "aspect_ratios": []float64{2, -1}}}}, "spec[0]: aspect_ratios[1] must be > 0"},
		{"ssd_spec", map[string]any{"spec": []any{map[string]any{"feature_map_size": 3, "min_size": 1, "max_size": 2}}}, `missing required option "spec[0].shrinkage"`},
		{"ssd_spec", map[string]any{"presets": "vgg"}, `did you mean "preset"?`},
		{"min_max_scale", map[string]any{}, "give layer blocks or a preset (ssd300, ssd512, ssdlite320)"},
		{"min_max_scale", map[string]any{"preset": "ssd_300"}, `did you mean "ssd300"?`},
		{"min_max_scale", map[string]any{"layer": layer}, "image_size must be > 0"},
		{"min_max_scale", map[string]any{"preset": "ssd300", "image_size": 512}, `preset "ssd300"'s layers are for image_size 300`},
		{"min_max_scale", map[string]any{"preset": "ssd300", "image_size": 512, "layer": layer}, `preset "ssd300"'s scales: 7 values for 1 layers`},
		{"min_max_scale", map[string]any{"image_size": 90, "layer": layer, "scales": []float64{0.1}}, "scales: 1 values for 1 layers"},
		{"min_max_scale", map[string]any{"image_size": 90, "layer": layer, "scales": []float64{0.1, 0}}, "scales[1] must be > 0"},
		{"min_max_scale", map[string]any{"image_size": 90, "layer": layer, "min_ratio": -0.1}, "min_ratio and max_ratio must be > 0"},
		{"min_max_scale", map[string]any{"image_size": 90, "layer": []any{map[string]any{"feature_map_size": 3, "step": -1.0}}}, "layer[0]: step must be >= 0"},
		{"min_max_scale", map[string]any{"image_size": 90, "layer": []any{map[string]any{"feature_map_size": 0}}}, "layer[0]: feature_map_size must be > 0"},
		{"sd_spec", nil, `unknown anchors "sd_spec"; did you mean "ssd_spec"?`},
	}
	for _, c := range cases {
		_, err := Build(registry.Ref{Type: c.typ, Options: c.opts})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want it to contain %q", c.typ, c.opts, err, c.want)
		}
	}
	// Factories called directly (without decoding) validate too.
	if _, err := NewSSDSpec(SSDSpecConfig{}); err == nil {
		t.Error("NewSSDSpec with an empty config: no error")
	}
	if _, err := NewMinMaxScale(MinMaxScaleConfig{ImageSize: 300}); err == nil {
		t.Error("NewMinMaxScale without layers: no error")
	}
}

func TestRegistryListing(t *testing.T) {
	if got := Registry.Names(); !slices.Equal(got, []string{"min_max_scale", "ssd_spec"}) {
		t.Fatalf("names %v", got)
	}
	for _, name := range Registry.Names() {
		spec, _ := Registry.Lookup(name)
		if _, err := registry.Describe(spec.NewConfig()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPriorsAreFreshTensors(t *testing.T) {
	g := build(t, "ssd_spec", map[string]any{"preset": "vgg"})
	a, err := g.Priors()
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Priors()
	if err != nil {
		t.Fatal(err)
	}
	defer b.MustDrop()
	a.MustDrop() // freeing one result must not affect the other
	if v := b.Float64Values(); len(v) != 8732*4 || v[2] != float64(float32(30.0/300)) {
		t.Fatalf("second priors: %d values, first width %v", len(v), v[2])
	}
}
