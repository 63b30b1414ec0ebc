package backbone_test

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
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
	checkVariantStructures(t, g, "vgg16", vggOptions, "base_net", "source_layer_add_ons", "extras")
}

// TestVGG16Synthetic compares the feature maps computed from formula weights with the
// reference's (eval mode, 300×300): all six with the batch norm add-on, the first with
// the L2 norm.
func TestVGG16Synthetic(t *testing.T) {
	checkVariantSynthetics(t, readGolden(t, "vgg_golden.json"), "vgg16", vggOptions, "batch_norm", "l2")
}

// TestVGG16ForwardBackward runs forward and backward in training mode at the smallest
// input the extra layers accept (268×268) with the L2 norm: feature shapes match
// Channels() and every parameter gets a finite, non-zero gradient.
func TestVGG16ForwardBackward(t *testing.T) {
	skipShort(t, "VGG16 backward pass")
	bb, vs := build(t, "vgg16", map[string]any{"norm": "l2"})
	checkBackboneBackward(t, bb, vs, []int64{1, 3, 268, 268}, []int64{34, 17, 9, 5, 3, 1}, "")
}

// TestVGG16Errors checks option validation and that a too small input is an error, not
// a crash inside libtorch.
func TestVGG16Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	checkBuildError(t, root, "vgg16", map[string]any{"norm": "layer_norm"}, `norm must be "batch_norm" or "l2"`)
	bb, _ := build(t, "vgg16", nil)
	checkForwardError(t, bb, []int64{1, 3, 267, 300}, false, "at least 268x268")
}
