package head

import (
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

var testSpec = Spec{Channels: []int{4, 2}, BoxesPerLocation: []int{2, 3}, NumClasses: 3}

func shapes(vs *nn.VarStore) map[string][]int64 {
	out := map[string][]int64{}
	for name, t := range vs.Variables() {
		out[name] = t.MustSize()
	}
	return out
}

func TestNames(t *testing.T) {
	cases := []struct {
		ref  registry.Ref
		want map[string][]int64
		n    int
	}{
		{registry.Ref{Type: "ssd"}, map[string][]int64{
			"classification_headers.0.weight": {6, 4, 3, 3}, "classification_headers.1.bias": {9},
			"regression_headers.0.weight": {8, 4, 3, 3}, "regression_headers.1.weight": {12, 2, 3, 3},
		}, 8},
		{registry.Ref{Type: "ssd_lite"}, map[string][]int64{
			"classification_headers.0.0.weight": {4, 1, 3, 3}, "classification_headers.0.0.bias": {4},
			"classification_headers.0.1.running_var": {4}, "classification_headers.0.3.weight": {6, 4, 1, 1},
			"classification_headers.1.weight": {9, 2, 1, 1}, "regression_headers.1.bias": {12},
			"regression_headers.0.3.bias": {8},
		}, 2 * (4 + 4 + 2)},
		{registry.Ref{Type: "ssd_lite", Options: map[string]any{"batch_norm": false, "activation": "relu"}}, map[string][]int64{
			"classification_headers.0.0.weight": {4, 1, 3, 3}, "classification_headers.0.2.weight": {6, 4, 1, 1},
			"regression_headers.0.2.bias": {8}, "regression_headers.1.weight": {12, 2, 1, 1},
		}, 2 * (4 + 2)},
	}
	for _, c := range cases {
		vs := nn.NewVarStore(gotch.CPU)
		h, err := Build(c.ref, vs.Root(), testSpec)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h.Modules(), []string{"classification_headers", "regression_headers"}) {
			t.Errorf("modules %v", h.Modules())
		}
		got := shapes(vs)
		for name, shape := range c.want {
			if !slices.Equal(got[name], shape) {
				t.Errorf("%v: %s has shape %v, want %v", c.ref, name, got[name], shape)
			}
		}
		if len(got) != c.n {
			t.Errorf("%v: %d variables, want %d: %v", c.ref, len(got), c.n, got)
		}
	}
}

func TestConfigAndSpecErrors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	bad := []struct {
		ref  registry.Ref
		spec Spec
		want string
	}{
		{registry.Ref{Type: "ssd_lite", Options: map[string]any{"activation": "gelu"}}, testSpec, "activation"},
		{registry.Ref{Type: "ssd"}, Spec{Channels: []int{4}, BoxesPerLocation: []int{2, 3}, NumClasses: 3}, "boxes-per-location"},
		{registry.Ref{Type: "ssd"}, Spec{Channels: []int{4}, BoxesPerLocation: []int{2}, NumClasses: 0}, "num_classes"},
		{registry.Ref{Type: "ssd"}, Spec{}, "no feature maps"},
		{registry.Ref{Type: "ssd", Options: map[string]any{"x": 1}}, testSpec, "takes no options"},
	}
	for _, b := range bad {
		if _, err := Build(b.ref, root, b.spec); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Build(%v, %+v) = %v, want an error containing %q", b.ref, b.spec, err, b.want)
		}
	}
}

// TestLayout checks the reference's output layout: for map i, batch b, location (y,x)
// and anchor a, conf[b, offset_i + (y·W + x)·boxes + a, c] is channel a·C + c of the
// classification header's output at (y,x); the same with 4 for loc.
func TestLayout(t *testing.T) {
	for _, kind := range []string{"ssd", "ssd_lite"} {
		vs := nn.NewVarStore(gotch.CPU)
		h, err := Build(registry.Ref{Type: kind}, vs.Root(), testSpec)
		if err != nil {
			t.Fatal(err)
		}
		pm := h.(*PerMap)
		feats := []*ts.Tensor{
			ts.MustRandn([]int64{2, 4, 3, 3}, gotch.Float, gotch.CPU),
			ts.MustRandn([]int64{2, 2, 2, 2}, gotch.Float, gotch.CPU),
		}
		conf, loc, err := h.Forward(feats, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := conf.MustSize(); !slices.Equal(got, []int64{2, 3*3*2 + 2*2*3, 3}) {
			t.Fatalf("%s: conf shape %v", kind, got)
		}
		if got := loc.MustSize(); !slices.Equal(got, []int64{2, 30, 4}) {
			t.Fatalf("%s: loc shape %v", kind, got)
		}
		offset := int64(0)
		for i, f := range feats {
			size := f.MustSize()
			hgt, wid := size[2], size[3]
			boxes := int64(testSpec.BoxesPerLocation[i])
			for _, out := range []struct {
				layerOut *ts.Tensor
				got      *ts.Tensor
				c        int64
			}{
				{pm.Classification[i].Forward(f, false), conf, 3},
				{pm.Regression[i].Forward(f, false), loc, 4},
			} {
				for _, idx := range [][4]int64{{0, 0, 0, 0}, {1, hgt - 1, wid - 1, boxes - 1}, {1, hgt - 1, 0, 1}, {0, 0, wid - 1, boxes - 1}} {
					b, y, x, a := idx[0], idx[1], idx[2], idx[3]
					for c := int64(0); c < out.c; c++ {
						want := out.layerOut.MustFloat64Value([]int64{b, a*out.c + c, y, x})
						got := out.got.MustFloat64Value([]int64{b, offset + (y*wid+x)*boxes + a, c})
						if d := want - got; d > 1e-6 || d < -1e-6 {
							t.Errorf("%s map %d %v class %d: %v, want %v", kind, i, idx, c, got, want)
						}
					}
				}
				out.layerOut.MustDrop()
			}
			offset += hgt * wid * boxes
		}
		conf.MustDrop()
		loc.MustDrop()

		if _, _, err := h.Forward(feats[:1], false); err == nil || !strings.Contains(err.Error(), "got 1 feature maps") {
			t.Errorf("one feature map: %v", err)
		}
		if _, _, err := h.Forward([]*ts.Tensor{feats[1], feats[0]}, false); err == nil || !strings.Contains(err.Error(), "want [B,4,H,W]") {
			t.Errorf("swapped feature maps: %v", err)
		}
		for _, f := range feats {
			f.MustDrop()
		}
	}
}
