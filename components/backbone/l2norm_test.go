package backbone_test

import (
	"testing"

	"github.com/sugarme/gotch"
)

// TestL2NormWeightIsFloat32 checks that the L2 norm's scale is a float32 variable of
// value 20: gotch's NewConstInit made it float64, which turned conv4_3's feature map and
// the heads' input into float64 and failed the first convolution of the heads.
func TestL2NormWeightIsFloat32(t *testing.T) {
	for _, typ := range []string{"vgg16", "vgg16_512"} {
		_, vs := build(t, typ, map[string]any{"norm": "l2"})
		w, err := vs.Root().Get("source_layer_add_ons.0.weight")
		if err != nil {
			t.Fatal(err)
		}
		if w.DType() != gotch.Float {
			t.Errorf("%s: L2 norm weight is %v, want float32", typ, w.DType())
		}
		if v := w.MustFloat64Value([]int64{3}); v != 20 {
			t.Errorf("%s: L2 norm weight %v, want 20", typ, v)
		}
		for _, x := range vs.Variables() {
			x.MustDrop()
		}
	}
}
