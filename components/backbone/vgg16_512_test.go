package backbone_test

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
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
	checkModules(t, bb, "base_net", "source_layer_add_ons", "extras")
	t.Logf("parameters: %v", want.Params)
}

// TestVGG16x512SharesVGG16 fills vgg16 and vgg16_512 (both with the L2 norm) with the same
// formula weights and runs them on one 300×300 input: the first four feature maps, which
// both compute with the same layers, are identical; the last three have SSD512's sizes
// (5, 3, 2, 1 after the stride-2 third and fourth stages and the 4x4 fifth stage, where
// vgg16 gives 3 and 1).
func TestVGG16x512SharesVGG16(t *testing.T) {
	run := func(typ string) []*ts.Tensor {
		bb, vs := build(t, typ, map[string]any{"norm": "l2"})
		return syntheticFeatures(t, bb, vs, 300)
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
	skipShort(t, "VGG16 backward pass")
	bb, vs := build(t, "vgg16_512", nil)
	checkBackboneBackward(t, bb, vs, []int64{1, 3, 268, 268}, []int64{34, 17, 9, 5, 3, 2, 1}, "")
}

// TestVGG16x512Errors checks option validation and that a too small input is an error.
func TestVGG16x512Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	checkBuildError(t, root, "vgg16_512", map[string]any{"norm": "none"}, `norm must be "batch_norm" or "l2"`)
	bb, _ := build(t, "vgg16_512", map[string]any{"norm": "batch_norm"})
	if !slices.Equal(bb.Channels(), []int{512, 1024, 512, 256, 256, 256, 256}) {
		t.Errorf("Channels() = %v", bb.Channels())
	}
	checkForwardError(t, bb, []int64{1, 3, 300, 267}, false, "at least 268x268")
}

// TestVGG16x512ForwardFreesIntermediates runs the eval forward pass repeatedly (batch 1,
// 268×268, 1 + 4 passes) and checks that the C heap stays flat (at most 32 KB a pass).
func TestVGG16x512ForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	bb, _ := build(t, "vgg16_512", nil)
	checkEvalMemory(t, backboneEval(bb), []int64{1, 3, 268, 268}, 1, 4, 32<<10)
}
