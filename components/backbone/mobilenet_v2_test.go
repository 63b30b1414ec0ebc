package backbone_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// mb2Options are the backbone options of the variants in testdata/mb2_golden.json.
var mb2Options = map[string]map[string]any{
	"w1.0":           {},
	"w0.75":          {"width_mult": 0.75},
	"w0.5":           {"width_mult": 0.5},
	"w0.25":          {"width_mult": 0.25},
	"w1.0_nobn":      {"use_batch_norm": false},
	"w0.5_relu_nobn": {"width_mult": 0.5, "use_batch_norm": false, "activation": "relu"},
}

// TestMobileNetV2StateDictNames checks, for widths 1, 0.75, 0.5 and 0.25 and without
// batch norm, that the variables are exactly the reference's state_dict entries (names
// and shapes), that each module has the reference's parameter count and that
// Channels() gives the channels of the reference's feature maps.
func TestMobileNetV2StateDictNames(t *testing.T) {
	g := readGolden(t, "mb2_golden.json")
	if len(g.Variants) != len(mb2Options) {
		t.Fatalf("golden has %d variants, the test knows %d", len(g.Variants), len(mb2Options))
	}
	for name, want := range g.Variants {
		t.Run(name, func(t *testing.T) {
			opts, ok := mb2Options[name]
			if !ok {
				t.Fatalf("no options for golden variant %q", name)
			}
			bb, vs := build(t, "mobilenet_v2", opts)
			checkStructure(t, bb, vs, want)
			if got := bb.Modules(); strings.Join(got, ",") != "base_net,extras" {
				t.Errorf("Modules() = %v", got)
			}
		})
	}
}

// TestMobileNetV2Synthetic runs the variants whose golden holds feature maps computed by
// the reference from formula weights (width 0.25; width 0.5 with ReLU and no batch norm)
// and compares them, eval mode, 300×300 input.
func TestMobileNetV2Synthetic(t *testing.T) {
	g := readGolden(t, "mb2_golden.json")
	for _, name := range []string{"w0.25", "w0.5_relu_nobn"} {
		t.Run(name, func(t *testing.T) {
			want := g.Variants[name]
			if want.Synthetic == nil {
				t.Fatalf("variant %s has no synthetic features", name)
			}
			bb, vs := build(t, "mobilenet_v2", mb2Options[name])
			fillSynthetic(vs)
			hw := int64(want.Synthetic.InputHW)
			x := syntheticTensor("input", []int64{1, 3, hw, hw})
			defer x.MustDrop()
			var feats []*ts.Tensor
			var err error
			gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
			if err != nil {
				t.Fatal(err)
			}
			defer dropAll(feats)
			if d := compareSynthetic(t, feats, want.Synthetic.Features); d > syntheticTolerance {
				t.Errorf("max |diff| / max(1, max |ref|) = %.3g, want ≤ %g", d, syntheticTolerance)
			} else {
				t.Logf("max |diff| / max(1, max |ref|) = %.3g", d)
			}
		})
	}
}

// TestMobileNetV2ForwardBackward trains one step's worth of forward and backward at
// width 1: feature shapes match Channels(), every parameter gets a finite, non-zero
// gradient and the batch norms' running statistics move.
func TestMobileNetV2ForwardBackward(t *testing.T) {
	bb, vs := build(t, "mobilenet_v2", nil)
	x := ts.MustRandn([]int64{2, 3, 160, 160}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		feats, err := bb.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		defer dropAll(feats)
		wantHW := []int64{10, 5, 3, 2, 1, 1}
		for i, f := range feats {
			sz := f.MustSize()
			if sz[0] != 2 || sz[1] != int64(bb.Channels()[i]) || sz[2] != wantHW[i] || sz[3] != wantHW[i] {
				t.Errorf("feature %d: shape %v, want [2 %d %d %d]", i, sz, bb.Channels()[i], wantHW[i], wantHW[i])
			}
		}
		backwardAll(t, vs, feats)
	})
	t.Logf("forward+backward, batch 2, 160×160: %v", time.Since(start))
	rm, err := vs.Root().Get("extras.3.conv.1.running_mean")
	if err != nil {
		t.Fatal(err)
	}
	if m := rm.MustAbs(false).MustMax(true).Float64Values(true)[0]; m == 0 {
		t.Error("running statistics did not change in training mode")
	}
}

// TestMobileNetV2Errors checks option validation and the inputs Forward refuses.
func TestMobileNetV2Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"width_mult": 0.0}, "width_mult must be in (0, 4]"},
		{map[string]any{"width_mult": 0.05}, "at least 0.0625"},
		{map[string]any{"activation": "gelu"}, `activation must be "relu6" or "relu"`},
		{map[string]any{"extras": "ssd"}, `extras must be "ssd_lite"`},
		{map[string]any{"with_mult": 1.0}, `did you mean "width_mult"`},
	} {
		_, err := backbone.Build(registry.Ref{Type: "mobilenet_v2", Options: c.opts}, root)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("options %v: error %v, want it to contain %q", c.opts, err, c.want)
		}
	}

	bb, _ := build(t, "mobilenet_v2", map[string]any{"width_mult": 0.25})
	x := ts.MustZeros([]int64{1, 3, 64, 64}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := bb.Forward(x, true); err == nil || !strings.Contains(err.Error(), "batch of at least 2") {
		t.Errorf("training on one image whose last map is 1x1: error %v", err)
	}
	gray := ts.MustZeros([]int64{1, 1, 64, 64}, gotch.Float, gotch.CPU)
	defer gray.MustDrop()
	if _, err := bb.Forward(gray, false); err == nil || !strings.Contains(err.Error(), "[B,3,H,W]") {
		t.Errorf("one-channel input: error %v", err)
	}
}

// TestMobileNetV2ForwardFreesIntermediates runs the width-1 forward pass repeatedly
// (eval, batch 1, 300×300: about 60 MB of intermediates each) and checks that the C heap
// stays flat: leaking even the smallest base-net intermediate (96×19×19 floats, 139 KB)
// would show.
func TestMobileNetV2ForwardFreesIntermediates(t *testing.T) {
	if testing.Short() {
		t.Skip("memory check skipped in -short mode")
	}
	bb, _ := build(t, "mobilenet_v2", nil)
	x := ts.MustRandn([]int64{1, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	var g torch.Growth
	gradMode(t, false, func() {
		var err error
		g, err = torch.MeasureGrowth(2, 8, func(int) error {
			feats, err := bb.Forward(x, false)
			dropAll(feats)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("10 forward passes in %v; per pass: C heap %+.1f KB, RSS %+.1f KB",
		time.Since(start), g.MallocPerStep()/1024, g.RSSPerStep()/1024)
	if g.MallocPerStep() > 32<<10 {
		t.Errorf("the C heap grew by %.1f KB per forward pass", g.MallocPerStep()/1024)
	}
}
