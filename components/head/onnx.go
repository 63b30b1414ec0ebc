package head

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/onnx"
)

// ONNXHead is a head with an ONNX form (see components/nn's ONNX): EmitONNX appends the
// nodes that compute, from the feature maps, the class logits [B,P,NumClasses] and box
// offsets [B,P,4] that Forward returns, and returns their names.
type ONNXHead interface {
	EmitONNX(e *nn.ONNX, features []string) (conf, loc string, err error)
}

var _ ONNXHead = (*PerMap)(nil)

// EmitONNX emits each map's headers, each output laid out as Forward's flatten does
// (Transpose to [B,H,W,A·C], Reshape to [B,H·W·A,C]; the batch size stays symbolic), and
// the concatenation over the maps.
func (h *PerMap) EmitONNX(e *nn.ONNX, features []string) (conf, loc string, err error) {
	if len(features) != len(h.Classification) {
		return "", "", fmt.Errorf("head: got %d feature maps, built for %d", len(features), len(h.Classification))
	}
	flatten := func(y string, c int64) string {
		t := e.G.Add("Transpose", []string{y}, onnx.Ints("perm", 0, 2, 3, 1))
		return e.G.Add("Reshape", []string{t, e.G.Int64s("shape", 0, -1, c)})
	}
	var confs, locs []string
	for i, f := range features {
		confs = append(confs, flatten(e.Emit(h.Classification[i], f), int64(h.Spec.NumClasses)))
		locs = append(locs, flatten(e.Emit(h.Regression[i], f), 4))
	}
	conf = e.G.Add("Concat", confs, onnx.Int("axis", 1))
	loc = e.G.Add("Concat", locs, onnx.Int("axis", 1))
	return conf, loc, nil
}
