package backbone_test

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// TestSqueezeNetStructure checks sq-ssd-lite built from squeezenet, the ssd_lite head
// (no batch norm, ReLU) and the squeezenet anchors: variables exactly the reference's
// state_dict entries, the reference's parameter count per module, its channels and, for
// 300×300, the sizes its priors tile (17, 10, 5, 3, 2, 1).
func TestSqueezeNetStructure(t *testing.T) {
	m := buildSSD(t, "sq")
	checkSSDStructure(t, "sq", m, readSSDGolden(t, "sq"))
	checkModules(t, m.Backbone, "base_net", "extras")
}

// TestSqueezeNetSynthetic compares the whole model's feature maps, conf and loc with
// the reference's on formula weights and input (eval mode, 300×300).
func TestSqueezeNetSynthetic(t *testing.T) { checkSynthetic(t, "sq") }

// TestSqueezeNetInit checks the reference's initialisation of the base net (kaiming
// uniform weights, zero biases), which the extra layers do not share.
func TestSqueezeNetInit(t *testing.T) {
	_, vs := build(t, "squeezenet", nil)
	for _, name := range []string{"base_net.0.bias", "base_net.12.expand3x3.bias"} {
		if m := absMax(mustGet(t, vs, name)); m != 0 {
			t.Errorf("%s: max |bias| %v, want 0", name, m)
		}
	}
	if m := absMax(mustGet(t, vs, "extras.0.0.bias")); m == 0 {
		t.Error("extras.0.0.bias is zero, want torch's default uniform init")
	}
	// base_net.12.squeeze: fan in 512, bound √(6/512) ≈ 0.108.
	if m := absMax(mustGet(t, vs, "base_net.12.squeeze.weight")); m > 0.1083 || m < 0.1 {
		t.Errorf("base_net.12.squeeze.weight: max |w| %v, want just under 0.108", m)
	}
}

// TestSqueezeNetForwardBackward runs a training forward and backward pass of the whole
// sq-ssd-lite (batch 1, 160×160: feature maps 9, 6, 3, 2, 1, 1): every parameter gets a
// finite, non-zero gradient.
func TestSqueezeNetForwardBackward(t *testing.T) {
	m := buildSSD(t, "sq")
	checkBackward(t, m.VarStore(), []int64{1, 3, 160, 160}, "", modelTrain(m), func(outs []*ts.Tensor) {
		n := int64(6 * (9*9 + 6*6 + 3*3 + 2*2 + 1 + 1))
		if got := outs[1].MustSize(); !slices.Equal(got, []int64{1, n, 4}) {
			t.Errorf("loc shape %v, want [1 %d 4]", got, n)
		}
	})
}

// TestSqueezeNetErrors checks that options are refused and that inputs too small for the
// unpadded layers give an error naming the op.
func TestSqueezeNetErrors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	checkBuildError(t, root, "squeezenet", map[string]any{"version": 1.0}, "takes no options")
	bb, _ := build(t, "squeezenet", nil)
	checkForwardError(t, bb, []int64{1, 3, 16, 16}, false, "max_pool2d")
	checkForwardError(t, bb, []int64{1, 1, 64, 64}, false, "[B,3,H,W]")
}

// TestSqueezeNetForwardFreesIntermediates runs the whole sq-ssd-lite repeatedly (eval,
// batch 1, 300×300, 2 + 8 passes) and checks that the C heap stays flat (at most 32 KB
// per pass).
func TestSqueezeNetForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	checkEvalMemory(t, modelEval(buildSSD(t, "sq")), []int64{1, 3, 300, 300}, 2, 8, 32<<10)
}
