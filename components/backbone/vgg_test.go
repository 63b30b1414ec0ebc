package backbone_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/registry"
)

// vggOptions are the backbone options of the variants in testdata/vgg_golden.json.
var vggOptions = map[string]map[string]any{
	"batch_norm": {},
	"l2":         {"norm": "l2"},
}

// TestVGG16StateDictNames checks that the variables are exactly the reference's
// vgg16-ssd state_dict entries (with the L2 norm, its scale as
// source_layer_add_ons.0.weight), with the reference's parameter counts per module, and
// Channels().
func TestVGG16StateDictNames(t *testing.T) {
	g := readGolden(t, "vgg_golden.json")
	for name, want := range g.Variants {
		t.Run(name, func(t *testing.T) {
			opts, ok := vggOptions[name]
			if !ok {
				t.Fatalf("no options for golden variant %q", name)
			}
			bb, vs := build(t, "vgg16", opts)
			checkStructure(t, bb, vs, want)
			if got := bb.Modules(); strings.Join(got, ",") != "base_net,source_layer_add_ons,extras" {
				t.Errorf("Modules() = %v", got)
			}
		})
	}
}

// TestVGG16Synthetic compares the feature maps computed from formula weights with the
// reference's (eval mode, 300×300): all six with the batch norm add-on, the first with
// the L2 norm.
func TestVGG16Synthetic(t *testing.T) {
	g := readGolden(t, "vgg_golden.json")
	for _, name := range []string{"batch_norm", "l2"} {
		t.Run(name, func(t *testing.T) {
			want := g.Variants[name]
			if want.Synthetic == nil {
				t.Fatalf("variant %s has no synthetic features", name)
			}
			bb, vs := build(t, "vgg16", vggOptions[name])
			fillSynthetic(vs)
			hw := int64(want.Synthetic.InputHW)
			x := syntheticTensor("input", []int64{1, 3, hw, hw})
			defer x.MustDrop()
			var feats []*ts.Tensor
			var err error
			start := time.Now()
			gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
			if err != nil {
				t.Fatal(err)
			}
			defer dropAll(feats)
			t.Logf("eval forward, batch 1, 300×300: %v", time.Since(start))
			if d := compareSynthetic(t, feats, want.Synthetic.Features); d > syntheticTolerance {
				t.Errorf("max |diff| / max(1, max |ref|) = %.3g, want ≤ %g", d, syntheticTolerance)
			} else {
				t.Logf("max |diff| / max(1, max |ref|) = %.3g", d)
			}
		})
	}
}

// TestVGG16ForwardBackward runs forward and backward in training mode at the smallest
// input the extra layers accept (268×268) with the L2 norm: feature shapes match
// Channels() and every parameter gets a finite, non-zero gradient.
func TestVGG16ForwardBackward(t *testing.T) {
	if testing.Short() {
		t.Skip("VGG16 backward pass skipped in -short mode")
	}
	bb, vs := build(t, "vgg16", map[string]any{"norm": "l2"})
	x := ts.MustRandn([]int64{1, 3, 268, 268}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		feats, err := bb.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		defer dropAll(feats)
		wantHW := []int64{34, 17, 9, 5, 3, 1}
		for i, f := range feats {
			sz := f.MustSize()
			if sz[0] != 1 || sz[1] != int64(bb.Channels()[i]) || sz[2] != wantHW[i] || sz[3] != wantHW[i] {
				t.Errorf("feature %d: shape %v, want [1 %d %d %d]", i, sz, bb.Channels()[i], wantHW[i], wantHW[i])
			}
		}
		backwardAll(t, vs, feats)
	})
	t.Logf("forward+backward, batch 1, 268×268: %v", time.Since(start))
}

// TestVGG16Errors checks option validation and that a too small input is an error, not
// a crash inside libtorch.
func TestVGG16Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	if _, err := backbone.Build(registry.Ref{Type: "vgg16", Options: map[string]any{"norm": "layer_norm"}}, root); err == nil ||
		!strings.Contains(err.Error(), `norm must be "batch_norm" or "l2"`) {
		t.Errorf("bad norm: error %v", err)
	}
	bb, _ := build(t, "vgg16", nil)
	x := ts.MustZeros([]int64{1, 3, 267, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := bb.Forward(x, false); err == nil || !strings.Contains(err.Error(), "at least 268x268") {
		t.Errorf("267x300 input: error %v", err)
	}
}
