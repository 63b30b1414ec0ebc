package transform

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

func TestRegisteredNames(t *testing.T) {
	want := []string{"expand", "hflip", "min_iou_crop", "none", "normalize", "photometric_distort", "resize", "ssd", "test"}
	if got := Registry.Names(); !slices.Equal(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	for _, n := range want {
		if _, err := Build(registry.Ref{Type: n}); err != nil {
			t.Errorf("Build(%q) with defaults: %v", n, err)
		}
	}
}

func TestBuildRejectsBadOptions(t *testing.T) {
	cases := []struct {
		ref  registry.Ref
		want string
	}{
		{refOf("ssd", map[string]any{"szie": 300}), `unknown option "szie"; did you mean "size"?`},
		{refOf("ssd", map[string]any{"size": 0}), "size must be in [1, 16384]"},
		{refOf("ssd", map[string]any{"std": []float64{128, 0, 1}}), "std[1] is 0"},
		{refOf("ssd", map[string]any{"mean": []float64{1, 2}}), "mean needs 1 value (all channels) or 3"},
		{refOf("ssd", map[string]any{"crop": map[string]any{"min_scale": 0.0}}), "crop: need 0 < min_scale"},
		{refOf("ssd", map[string]any{"crop": map[string]any{"constraint": "most"}}), `constraint must be "all" or "any"`},
		{refOf("ssd", map[string]any{"photometric": map[string]any{"contrast": []float64{1.5, 0.5}}}), "photometric: contrast must satisfy"},
		{refOf("ssd", map[string]any{"expand": map[string]any{"max_ratio": 0.5}}), "expand: max_ratio must be in [1, 16]"},
		{refOf("ssd", map[string]any{"flip": map[string]any{"p": 2.0}}), "flip: p must be in [0, 1]"},
		{refOf("photometric_distort", map[string]any{"hue": 400.0}), "hue must be in [0, 360]"},
		{refOf("photometric_distort", map[string]any{"saturation": []float64{0.5}}), "saturation needs 2 values"},
		{refOf("min_iou_crop", map[string]any{"min_ious": []float64{}, "whole_image": false, "random_patch": false}), "no crop mode"},
		{refOf("min_iou_crop", map[string]any{"min_ious": []float64{1.5}}), "min_ious[0] must be in [0, 1]"},
		{refOf("min_iou_crop", map[string]any{"max_trials": 0}), "max_trials must be >= 1"},
		{refOf("expand", map[string]any{"mean": []float64{}}), "mean needs 1 value"},
		{refOf("normalize", map[string]any{"std": []float64{0}}), "std[0] is 0"},
		{refOf("resize", map[string]any{"size": -3}), "size must be in"},
		{refOf("test", map[string]any{"uint8": "yes"}), "uint8"},
		{refOf("none", map[string]any{"x": 1}), "takes no options"},
		{refOf("sdd", nil), `unknown transform "sdd"; did you mean "ssd"?`},
	}
	for _, c := range cases {
		_, err := Build(c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%s %v) = %v, want an error containing %q", c.ref.Type, c.ref.Options, err, c.want)
		}
	}
	if _, err := BuildChain([]registry.Ref{{Type: "resize"}, refOf("hflip", map[string]any{"p": -1.0})}); err == nil ||
		!strings.Contains(err.Error(), "transform[1]") {
		t.Errorf("BuildChain error does not name the step: %v", err)
	}
}

// fixture is an image of coloured rectangles on a grey background; object i is the
// rectangle boxes[i] (continuous pixel coordinates: it fills x0 <= x < x1), painted with
// colour labelColour(labels[i]).
func fixture(w, h int, boxes [][4]float32, labels []int) *Sample {
	s := &Sample{ID: "fixture", W: w, H: h, Image: make([]float32, w*h*3),
		Boxes: append([][4]float32(nil), boxes...), Labels: append([]int(nil), labels...)}
	for i := range s.Image {
		s.Image[i] = 90
	}
	for i, b := range boxes {
		c := labelColour(labels[i])
		for y := int(b[1]); y < int(b[3]); y++ {
			for x := int(b[0]); x < int(b[2]); x++ {
				copy(s.Image[(y*w+x)*3:], c[:])
			}
		}
	}
	return s
}

func labelColour(l int) [3]float32 {
	return [3]float32{float32(40 * l % 256), float32(255 - 30*l%256), float32(70 * l % 256)}
}

func cloneSample(s *Sample) *Sample {
	return &Sample{ID: s.ID, W: s.W, H: s.H, Image: slices.Clone(s.Image),
		Boxes: slices.Clone(s.Boxes), Labels: slices.Clone(s.Labels)}
}

func sameSample(a, b *Sample) bool {
	return a.W == b.W && a.H == b.H && slices.Equal(a.Image, b.Image) && slices.Equal(a.Boxes, b.Boxes) && slices.Equal(a.Labels, b.Labels)
}

var fixtureBoxes = [][4]float32{{10, 12, 60, 70}, {70, 5, 118, 40}, {30, 75, 100, 95}, {100, 60, 112, 90}}
var fixtureLabels = []int{1, 2, 3, 4}

// TestSSDEqualsChainOfSteps: the fused "ssd" transform and the chain of its steps (which
// builds every intermediate image) give the same samples, bit for bit, from the same seed.
func TestSSDEqualsChainOfSteps(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	// Smooth colour variation so that interpolation and the photometric changes show.
	for i := range src.Image {
		src.Image[i] += float32(i % 17)
	}
	configs := map[string]func(*SSDConfig){
		"default":       func(*SSDConfig) {},
		"reference bug": func(c *SSDConfig) { c.Crop.ReferenceBug = true },
		"vgg mean, std 58.4, size 61": func(c *SSDConfig) {
			c.Mean, c.Std, c.Size = []float64{123, 117, 104}, []float64{58.4}, 61
		},
		"upscale 512, clip, any": func(c *SSDConfig) {
			c.Size, c.Photometric.Clip, c.Crop.Constraint = 512, true, "any"
		},
		"p 0.3": func(c *SSDConfig) {
			c.Photometric.P, c.Expand.P, c.Flip.P = 0.3, 0.7, 0.2
		},
	}
	for name, edit := range configs {
		c := DefaultSSD()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		fused, steps := newSSD(&c), stepsChain(t, c)
		for seed := range uint64(60) {
			a, b := cloneSample(src), cloneSample(src)
			if err := fused.Apply(a, rand.New(rand.NewPCG(seed, 9))); err != nil {
				t.Fatal(err)
			}
			if err := steps.Apply(b, rand.New(rand.NewPCG(seed, 9))); err != nil {
				t.Fatal(err)
			}
			if !sameSample(a, b) {
				t.Fatalf("%s, seed %d: the fused transform differs from the chain of steps", name, seed)
			}
		}
	}
}

// TestExactTwoTimesReduction: a crop of exactly twice the output size takes OpenCV's
// INTER_AREA path in both implementations.
func TestExactTwoTimesReduction(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	v := wholeView(src.Image, src.W, src.H)
	v.x0, v.y0, v.w, v.h, v.flip = 3, 5, 80, 60, true
	rz := newResizer(80, 60, 40, 30)
	if !rz.area {
		t.Fatal("an exact 2x reduction is not treated as INTER_AREA")
	}
	fused := rz.float(v, nil)
	crop := cropImage(src.Image, src.W, 3, 5, 83, 65)
	mirrorImage(crop, 80, 60)
	if !slices.Equal(fused, newResizer(80, 60, 40, 30).float(wholeView(crop, 80, 60), nil)) {
		t.Fatal("window view and built crop differ")
	}
	// The mean of each 2x2 block.
	if got, want := fused[0], (crop[0]+crop[3]+crop[80*3]+crop[80*3+3])*0.25; got != want {
		t.Fatalf("first pixel %v, want %v", got, want)
	}
}

func TestDeterminism(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	tr, err := Build(refOf("ssd", map[string]any{"size": 64}))
	if err != nil {
		t.Fatal(err)
	}
	run := func(seed uint64) *Sample {
		s := cloneSample(src)
		if err := tr.Apply(s, rand.New(rand.NewPCG(seed, 1))); err != nil {
			t.Fatal(err)
		}
		return s
	}
	differ := 0
	for seed := range uint64(20) {
		if !sameSample(run(seed), run(seed)) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		if !sameSample(run(seed), run(seed+100)) {
			differ++
		}
	}
	if differ < 18 {
		t.Errorf("only %d of 20 pairs of seeds gave different samples", differ)
	}
}

func TestInvalidSamplesAreErrors(t *testing.T) {
	bad := []*Sample{
		{ID: "img1", W: 4, H: 3, Image: make([]float32, 35)},
		{ID: "img2", W: 0, H: 3},
		{ID: "img3", W: 2, H: 2, Image: make([]float32, 12), Boxes: [][4]float32{{0, 0, 1, 1}}},
	}
	for _, name := range Registry.Names() {
		tr, err := Build(registry.Ref{Type: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range bad {
			if err := tr.Apply(s, rand.New(rand.NewPCG(1, 1))); err == nil || !strings.Contains(err.Error(), s.ID) {
				t.Errorf("%s on %s: error %v does not name the image", name, s.ID, err)
			}
		}
	}
	if err := (Chain{identity{}}).Apply(bad[0], nil); err == nil || !strings.Contains(err.Error(), "step 0") {
		t.Errorf("Chain error does not name the step: %v", err)
	}
}

func TestNoneAndChain(t *testing.T) {
	src := fixture(40, 30, [][4]float32{{5, 5, 20, 20}}, []int{2})
	s := cloneSample(src)
	tr, err := BuildChain([]registry.Ref{{Type: "none"}, refOf("hflip", map[string]any{"p": 1.0}), refOf("hflip", map[string]any{"p": 1.0})})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Apply(s, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	if !sameSample(s, src) {
		t.Error("none + flip + flip changed the sample")
	}
}

// TestNestedBlocksKeepDefaults: setting one option of a block keeps the block's other
// defaults.
func TestNestedBlocksKeepDefaults(t *testing.T) {
	_, cfg, err := Registry.Resolve(refOf("ssd", map[string]any{"size": 512,
		"crop": map[string]any{"reference_bug": true}, "photometric": map[string]any{"hue": 9.0}}))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*SSDConfig)
	want := DefaultSSD()
	want.Size, want.Crop.ReferenceBug, want.Photometric.Hue = 512, true, 9
	if !slices.Equal(c.Crop.MinIoUs, want.Crop.MinIoUs) || c.Crop.MaxTrials != 50 || !c.Crop.ReferenceBug ||
		c.Photometric.Hue != 9 || c.Photometric.Brightness != 32 || !c.Photometric.ChannelSwap ||
		c.Expand != want.Expand || c.Flip != want.Flip || c.Size != 512 {
		t.Errorf("decoded %+v, want %+v", *c, want)
	}
}
