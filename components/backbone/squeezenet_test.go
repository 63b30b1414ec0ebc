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
	"github.com/ssdrunner/ssdrunner/registry"
)

// TestSqueezeNetStructure checks sq-ssd-lite built from squeezenet, the ssd_lite head
// (no batch norm, ReLU) and the squeezenet anchors: variables exactly the reference's
// state_dict entries, the reference's parameter count per module, its channels and, for
// 300×300, the sizes its priors tile (17, 10, 5, 3, 2, 1).
func TestSqueezeNetStructure(t *testing.T) {
	m := buildSSD(t, "sq")
	checkSSDStructure(t, "sq", m, readSSDGolden(t, "sq"))
	if got := m.Backbone.Modules(); !slices.Equal(got, []string{"base_net", "extras"}) {
		t.Errorf("Modules() = %v", got)
	}
}

// TestSqueezeNetSynthetic compares the whole model's feature maps, conf and loc with
// the reference's on formula weights and input (eval mode, 300×300).
func TestSqueezeNetSynthetic(t *testing.T) { checkSynthetic(t, "sq") }

// TestSqueezeNetInit checks the reference's initialisation of the base net (kaiming
// uniform weights, zero biases), which the extra layers do not share.
func TestSqueezeNetInit(t *testing.T) {
	_, vs := build(t, "squeezenet", nil)
	root := vs.Root()
	for _, name := range []string{"base_net.0.bias", "base_net.12.expand3x3.bias"} {
		if m := root.MustGet(name).MustAbs(false).MustMax(true).Float64Values(true)[0]; m != 0 {
			t.Errorf("%s: max |bias| %v, want 0", name, m)
		}
	}
	if m := root.MustGet("extras.0.0.bias").MustAbs(false).MustMax(true).Float64Values(true)[0]; m == 0 {
		t.Error("extras.0.0.bias is zero, want torch's default uniform init")
	}
	// base_net.12.squeeze: fan in 512, bound √(6/512) ≈ 0.108.
	w := root.MustGet("base_net.12.squeeze.weight")
	if m := w.MustAbs(false).MustMax(true).Float64Values(true)[0]; m > 0.1083 || m < 0.1 {
		t.Errorf("base_net.12.squeeze.weight: max |w| %v, want just under 0.108", m)
	}
}

// TestSqueezeNetForwardBackward runs a training forward and backward pass of the whole
// sq-ssd-lite (batch 1, 160×160: feature maps 9, 6, 3, 2, 1, 1): every parameter gets a
// finite, non-zero gradient.
func TestSqueezeNetForwardBackward(t *testing.T) {
	m := buildSSD(t, "sq")
	x := ts.MustRandn([]int64{1, 3, 160, 160}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		conf, loc, err := m.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		defer conf.MustDrop()
		defer loc.MustDrop()
		n := int64(6 * (9*9 + 6*6 + 3*3 + 2*2 + 1 + 1))
		if got := loc.MustSize(); !slices.Equal(got, []int64{1, n, 4}) {
			t.Errorf("loc shape %v, want [1 %d 4]", got, n)
		}
		backwardAll(t, m.VarStore(), []*ts.Tensor{conf, loc})
	})
	t.Logf("forward+backward, batch 1, 160×160: %v", time.Since(start))
}

// TestSqueezeNetErrors checks that options are refused and that inputs too small for the
// unpadded layers give an error naming the op.
func TestSqueezeNetErrors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	_, err := backbone.Build(registry.Ref{Type: "squeezenet", Options: map[string]any{"version": 1.0}}, root)
	if err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("option version: error %v", err)
	}
	bb, _ := build(t, "squeezenet", nil)
	small := ts.MustZeros([]int64{1, 3, 16, 16}, gotch.Float, gotch.CPU)
	defer small.MustDrop()
	if _, err := bb.Forward(small, false); err == nil || !strings.Contains(err.Error(), "max_pool2d") {
		t.Errorf("16×16 input: error %v, want one from max_pool2d", err)
	}
	gray := ts.MustZeros([]int64{1, 1, 64, 64}, gotch.Float, gotch.CPU)
	defer gray.MustDrop()
	if _, err := bb.Forward(gray, false); err == nil || !strings.Contains(err.Error(), "[B,3,H,W]") {
		t.Errorf("one-channel input: error %v", err)
	}
}

// TestSqueezeNetForwardFreesIntermediates runs the whole sq-ssd-lite repeatedly (eval,
// batch 1, 300×300) and checks that the C heap stays flat.
func TestSqueezeNetForwardFreesIntermediates(t *testing.T) {
	if testing.Short() {
		t.Skip("memory check skipped in -short mode")
	}
	checkEvalHeapFlat(t, buildSSD(t, "sq"))
}
