package backbone_test

import (
	"slices"
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

// TestVGG16x512StateDictNames checks that vgg16_512's variables are the reference's
// vgg16-ssd ones with the L2 norm (testdata/vgg_golden.json, variant l2) plus the fifth
// extra stage, extras.4.0 [128,256,1,1] and extras.4.2 [256,128,4,4] with biases.
func TestVGG16x512StateDictNames(t *testing.T) {
	want := readGolden(t, "vgg_golden.json").Variants["l2"]
	want.Keys = append(want.Keys,
		keyShape{"extras.4.0.weight", []int64{128, 256, 1, 1}}, keyShape{"extras.4.0.bias", []int64{128}},
		keyShape{"extras.4.2.weight", []int64{256, 128, 4, 4}}, keyShape{"extras.4.2.bias", []int64{256}})
	want.Params = map[string]int64{"base_net": want.Params["base_net"], "source_layer_add_ons": want.Params["source_layer_add_ons"],
		"extras": want.Params["extras"] + 128*256 + 128 + 256*128*16 + 256}
	want.Channels = append(want.Channels, 256)
	bb, vs := build(t, "vgg16_512", nil) // norm defaults to l2
	checkStructure(t, bb, vs, want)
	if got := bb.Modules(); strings.Join(got, ",") != "base_net,source_layer_add_ons,extras" {
		t.Errorf("Modules() = %v", got)
	}
	t.Logf("parameters: %v", want.Params)
}

// TestVGG16x512SharesVGG16 fills vgg16 and vgg16_512 (both with the L2 norm) with the same
// formula weights and runs them on one 300×300 input: the first four feature maps, which
// both compute with the same layers, are identical; the last three have SSD512's sizes
// (5, 3, 2, 1 after the stride-2 third and fourth stages and the 4x4 fifth stage, where
// vgg16 gives 3 and 1).
func TestVGG16x512SharesVGG16(t *testing.T) {
	x := syntheticTensor("input", []int64{1, 3, 300, 300})
	defer x.MustDrop()
	run := func(typ string) []*ts.Tensor {
		bb, vs := build(t, typ, map[string]any{"norm": "l2"})
		fillSynthetic(vs)
		var feats []*ts.Tensor
		var err error
		gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
		if err != nil {
			t.Fatal(err)
		}
		return feats
	}
	v16 := run("vgg16")
	defer dropAll(v16)
	v512 := run("vgg16_512")
	defer dropAll(v512)
	for i := 0; i < 4; i++ {
		if d := maxAbsDiff(v16[i], v512[i]); d != 0 {
			t.Errorf("feature %d: max |diff| %g between vgg16 and vgg16_512", i, d)
		}
	}
	checkShapes(t, v512, 1, []int{512, 1024, 512, 256, 256, 256, 256}, []int64{38, 19, 10, 5, 3, 2, 1})
}

// TestVGG16x512ForwardBackward runs forward and backward in training mode at the
// smallest input (268×268): feature shapes and a finite, non-zero gradient for every
// parameter.
func TestVGG16x512ForwardBackward(t *testing.T) {
	if testing.Short() {
		t.Skip("VGG16 backward pass skipped in -short mode")
	}
	bb, vs := build(t, "vgg16_512", nil)
	x := ts.MustRandn([]int64{1, 3, 268, 268}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		feats, err := bb.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		defer dropAll(feats)
		checkShapes(t, feats, 1, bb.Channels(), []int64{34, 17, 9, 5, 3, 2, 1})
		backwardAll(t, vs, feats)
	})
	t.Logf("forward+backward, batch 1, 268×268: %v", time.Since(start))
}

// TestVGG16x512Errors checks option validation and that a too small input is an error.
func TestVGG16x512Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	if _, err := backbone.Build(registry.Ref{Type: "vgg16_512", Options: map[string]any{"norm": "none"}}, root); err == nil ||
		!strings.Contains(err.Error(), `norm must be "batch_norm" or "l2"`) {
		t.Errorf("bad norm: error %v", err)
	}
	bb, _ := build(t, "vgg16_512", map[string]any{"norm": "batch_norm"})
	if !slices.Equal(bb.Channels(), []int{512, 1024, 512, 256, 256, 256, 256}) {
		t.Errorf("Channels() = %v", bb.Channels())
	}
	x := ts.MustZeros([]int64{1, 3, 300, 267}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := bb.Forward(x, false); err == nil || !strings.Contains(err.Error(), "at least 268x268") {
		t.Errorf("300x267 input: error %v", err)
	}
}

// TestVGG16x512ForwardFreesIntermediates runs the eval forward pass repeatedly (batch 1,
// 268×268) and checks that the C heap stays flat.
func TestVGG16x512ForwardFreesIntermediates(t *testing.T) {
	if testing.Short() {
		t.Skip("memory check skipped in -short mode")
	}
	bb, _ := build(t, "vgg16_512", nil)
	x := ts.MustRandn([]int64{1, 3, 268, 268}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	var g torch.Growth
	gradMode(t, false, func() {
		var err error
		g, err = torch.MeasureGrowth(1, 4, func(int) error {
			feats, err := bb.Forward(x, false)
			dropAll(feats)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("per pass: C heap %+.1f KB, RSS %+.1f KB", g.MallocPerStep()/1024, g.RSSPerStep()/1024)
	if g.MallocPerStep() > 32<<10 {
		t.Errorf("the C heap grew by %.1f KB per forward pass", g.MallocPerStep()/1024)
	}
}
