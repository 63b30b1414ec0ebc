package backbone_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/nn"
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
	want, got := stride8Pair(t, def, m)
	for i, w := range want {
		if d := maxAbsDiff(got[i+1], w); d != 0 {
			t.Errorf("feature %d differs from the default's feature %d by %g", i+1, i, d)
		}
	}
}

// TestMobileNetV1FusedStem checks the "fused" stem: base_net.1 is one dense 3x3
// convolution with its batch norm (the shape of base_net.0's variables, 32·w channels in
// and 64·w out), that convolution has stride 2 and base_net.2's depthwise one stride 1
// (the output of base_net[:2] is at a quarter of the input's side, of base_net[:3] as in
// the separable stem), and every other variable and every feature map is the separable
// stem's.
func TestMobileNetV1FusedStem(t *testing.T) {
	opts := map[string]any{"width_mult": 0.5, "extras": "ssd_lite"}
	sep, sepVS := build(t, "mobilenet_v1", opts)
	opts["stem"] = "fused"
	m, vs := build(t, "mobilenet_v1", opts)
	sepVars, vars := sepVS.Variables(), vs.Variables()
	size := func(vars map[string]ts.Tensor, name string) []int64 {
		v, ok := vars[name]
		if !ok {
			return nil
		}
		return v.MustSize()
	}
	for name := range vars {
		switch {
		case strings.HasPrefix(name, "base_net.1."):
			if _, ok := vars["base_net.0."+strings.TrimPrefix(name, "base_net.1.")]; !ok {
				t.Errorf("%s: base_net.1 should hold what base_net.0 holds", name)
			}
		case !slices.Equal(size(vars, name), size(sepVars, name)):
			t.Errorf("%s: shape %v, the separable stem's %v", name, size(vars, name), size(sepVars, name))
		}
	}
	if got := size(vars, "base_net.1.0.weight"); !slices.Equal(got, []int64{32, 16, 3, 3}) {
		t.Errorf("base_net.1.0.weight: shape %v, want a dense 3x3 convolution [32 16 3 3]", got)
	}
	if got := size(vars, "base_net.2.0.weight"); !slices.Equal(got, []int64{32, 1, 3, 3}) {
		t.Errorf("base_net.2.0.weight: shape %v, want the depthwise [32 1 3 3]", got)
	}
	blockVars := 0 // a separable block's variables beyond a convolution with its batch norm
	for name := range sepVars {
		if strings.HasPrefix(name, "base_net.1.") {
			blockVars++
		}
		if strings.HasPrefix(name, "base_net.0.") {
			blockVars--
		}
	}
	if len(vars) != len(sepVars)-blockVars {
		t.Errorf("%d variables, want %d", len(vars), len(sepVars)-blockVars)
	}

	x := ts.MustRandn([]int64{2, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	base := m.(*backbone.MobileNetV1).Base
	for _, c := range []struct {
		to   int
		side int64
	}{{2, 75}, {3, 75}} {
		y := base.ForwardRange(x, false, 0, c.to)
		if got := y.MustSize(); got[2] != c.side || got[3] != c.side {
			t.Errorf("base_net[:%d]: shape %v, want %dx%d", c.to, got, c.side, c.side)
		}
		y.MustDrop()
	}
	feats := evalForward(t, m, x)
	defer dropAll(feats)
	checkShapes(t, feats, 2, sep.Channels(), []int64{19, 10, 5, 3, 2, 1})
}

// TestMobileNetV1TopDown checks the top_down option's variables (the batch norms' weights
// fresh at 0) and the option against its definition computed here
// from the plain model's feature maps (the same variables by name, so the same values):
// P14 = C14, P12 = C12 + up(bn(conv(P14))), P6 = C6 + up(bn(conv(P12))), with up the
// nearest-neighbour upsampling written as an index gather (source index floor(i·in/out),
// torch's "nearest"), at 300 pixels where 10x10 goes to 19x19. The convolutions and batch
// norms are the same libtorch calls on the same values, and the gather and the sum exact,
// so the maps must be equal to the bit; the extras read C14 and stay the plain model's.
func TestMobileNetV1TopDown(t *testing.T) {
	opts := map[string]any{"width_mult": 0.5, "extras": "ssd_lite", "stem": "fused", "source_layers": []int{6, 12, 14}}
	plain, plainVS := build(t, "mobilenet_v1", opts)
	opts["top_down"] = true
	m, vs := build(t, "mobilenet_v1", opts)
	if got := m.Modules(); !slices.Equal(got, []string{"base_net", "top_down", "extras"}) {
		t.Errorf("modules %v", got)
	}
	if !slices.Equal(m.Channels(), plain.Channels()) {
		t.Errorf("channels %v, want the plain model's %v", m.Channels(), plain.Channels())
	}
	vars, plainVars := vs.Variables(), plainVS.Variables()
	want := map[string][]int64{
		"top_down.0.0.weight": {128, 256, 1, 1}, "top_down.1.0.weight": {256, 512, 1, 1},
	}
	for i, c := range []int64{128, 256} {
		for _, v := range []string{"weight", "bias", "running_mean", "running_var"} {
			want[fmt.Sprintf("top_down.%d.1.%s", i, v)] = []int64{c}
		}
	}
	for name, v := range vars {
		if _, ok := plainVars[name]; ok {
			continue
		}
		shape, ok := want[name]
		if !ok {
			t.Errorf("unexpected variable %s", name)
		} else if !slices.Equal(v.MustSize(), shape) {
			t.Errorf("%s: shape %v, want %v", name, v.MustSize(), shape)
		}
	}
	if len(vars) != len(plainVars)+len(want) {
		t.Errorf("%d variables, want %d", len(vars), len(plainVars)+len(want))
	}
	// Zero-gamma: a fresh path adds zero maps, so training starts from the plain model.
	for _, name := range []string{"top_down.0.1.weight", "top_down.1.1.weight"} {
		v := vars[name]
		if m := absMax(&v); m != 0 {
			t.Errorf("%s: fresh max |value| %g, want 0 (zero-gamma)", name, m)
		}
	}
	fillSynthetic(plainVS)
	fillSynthetic(vs)

	c, p := stride8Pair(t, plain, m)

	td := m.(*backbone.MobileNetV1).TopDown
	lateral := func(i int, coarse, fine *ts.Tensor) *ts.Tensor {
		conv := td[i].Layers[0].(*nn.Conv2d)
		bn := td[i].Layers[1].(*nn.BatchNorm2d)
		var out *ts.Tensor
		gradMode(t, false, func() {
			y := ts.MustConv2d(coarse, conv.Weight, ts.None, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, 1)
			z := ts.MustBatchNorm(y, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, false, nn.BatchNormMomentum, nn.BatchNormEps, true)
			y.MustDrop()
			in, out2 := z.MustSize()[2], fine.MustSize()[2]
			idx := make([]int64, out2)
			for j := range idx {
				idx[j] = int64(j) * in / out2 // floor(j·in/out)
			}
			ix := ts.MustOfSlice(idx)
			up := z.MustIndexSelect(2, ix, true).MustIndexSelect(3, ix, true)
			ix.MustDrop()
			out = fine.MustAdd(up, false)
			up.MustDrop()
		})
		return out
	}
	p12 := lateral(1, c[2], c[1])
	defer p12.MustDrop()
	p6 := lateral(0, p12, c[0])
	defer p6.MustDrop()
	for i, w := range []*ts.Tensor{p6, p12, c[2], c[3], c[4], c[5], c[6]} {
		if d := maxAbsDiff(p[i], w); d != 0 {
			t.Errorf("feature %d differs from its definition by %g", i, d)
		}
	}
	if d := maxAbsDiff(p[0], c[0]); d == 0 {
		t.Error("the stride-8 map is the plain model's: the top-down path added nothing")
	}
}

// stride8Pair runs a and b (b with the stride-8 map, seven feature maps) in eval mode on
// one random batch of two 300x300 images, checks b's shapes and returns both feature maps
// (freed when the test ends).
func stride8Pair(t *testing.T, a, b backbone.Backbone) (fa, fb []*ts.Tensor) {
	t.Helper()
	x := ts.MustRandn([]int64{2, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	fa = evalForward(t, a, x)
	t.Cleanup(func() { dropAll(fa) })
	fb = evalForward(t, b, x)
	t.Cleanup(func() { dropAll(fb) })
	checkShapes(t, fb, 2, b.Channels(), []int64{38, 19, 10, 5, 3, 2, 1})
	return fa, fb
}
