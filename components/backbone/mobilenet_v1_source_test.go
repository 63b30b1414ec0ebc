package backbone_test

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestMobileNetV1SourceLayers checks that other source layers only split the base net
// elsewhere: the same variables, and with the same weights the default's feature maps
// follow the extra one unchanged (the same ops on the same values).
func TestMobileNetV1SourceLayers(t *testing.T) {
	opts := map[string]any{"width_mult": 0.5, "extras": "ssd_lite"}
	def, defVS := build(t, "mobilenet_v1", opts)
	opts["source_layers"] = []int{6, 12, 14}
	m, vs := build(t, "mobilenet_v1", opts)
	if ch := m.Channels(); !slices.Equal(ch, []int{128, 256, 512, 512, 256, 256, 256}) {
		t.Errorf("channels %v", ch)
	}
	if len(vs.Variables()) != len(defVS.Variables()) {
		t.Fatalf("%d variables, want the default's %d", len(vs.Variables()), len(defVS.Variables()))
	}
	if err := vs.Copy(defVS); err != nil {
		t.Fatal(err)
	}
	x := ts.MustRandn([]int64{2, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	want := evalForward(t, def, x)
	defer dropAll(want)
	got := evalForward(t, m, x)
	defer dropAll(got)
	checkShapes(t, got, 2, m.Channels(), []int64{38, 19, 10, 5, 3, 2, 1})
	for i, w := range want {
		if d := maxAbsDiff(got[i+1], w); d != 0 {
			t.Errorf("feature %d differs from the default's feature %d by %g", i+1, i, d)
		}
	}
}
