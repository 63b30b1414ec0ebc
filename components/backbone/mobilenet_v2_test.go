package backbone_test

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
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
	checkVariantStructures(t, g, "mobilenet_v2", mb2Options, "base_net", "extras")
}

// TestMobileNetV2Synthetic runs the variants whose golden holds feature maps computed by
// the reference from formula weights (width 0.25; width 0.5 with ReLU and no batch norm)
// and compares them, eval mode, 300×300 input.
func TestMobileNetV2Synthetic(t *testing.T) {
	checkVariantSynthetics(t, readGolden(t, "mb2_golden.json"), "mobilenet_v2", mb2Options, "w0.25", "w0.5_relu_nobn")
}

// TestMobileNetV2ForwardBackward trains one step's worth of forward and backward at
// width 1 (batch 2, 160×160): feature shapes match Channels(), every parameter gets a
// finite, non-zero gradient and the batch norms' running statistics move.
func TestMobileNetV2ForwardBackward(t *testing.T) {
	bb, vs := build(t, "mobilenet_v2", nil)
	checkBackboneBackward(t, bb, vs, []int64{2, 3, 160, 160}, []int64{10, 5, 3, 2, 1, 1}, "extras.3.conv.1.running_mean")
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
		checkBuildError(t, root, "mobilenet_v2", c.opts, c.want)
	}

	bb, _ := build(t, "mobilenet_v2", map[string]any{"width_mult": 0.25})
	// Training on one image whose last map is 1x1.
	checkForwardError(t, bb, []int64{1, 3, 64, 64}, true, "batch of at least 2")
	checkForwardError(t, bb, []int64{1, 1, 64, 64}, false, "[B,3,H,W]")
}

// TestMobileNetV2ForwardFreesIntermediates runs the width-1 forward pass repeatedly
// (eval, batch 1, 300×300: about 60 MB of intermediates each) and checks that the C heap
// stays flat: leaking even the smallest base-net intermediate (96×19×19 floats, 139 KB)
// would show.
func TestMobileNetV2ForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	bb, _ := build(t, "mobilenet_v2", nil)
	checkEvalMemory(t, backboneEval(bb), []int64{1, 3, 300, 300}, 2, 8, 32<<10)
}
