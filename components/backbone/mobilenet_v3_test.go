package backbone_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// TestMobileNetV3Structure checks, for mb3-large- and mb3-small-ssd-lite built from
// mobilenet_v3_large / mobilenet_v3_small, the ssd_lite head and the mobilenet anchors,
// that the variables are exactly the reference's state_dict entries (names and shapes),
// that each module has the reference's parameter count, and that the feature maps have
// the reference's channels and, for 300×300, the sizes its priors tile (19, 10, 5, 3, 2, 1).
func TestMobileNetV3Structure(t *testing.T) {
	for _, name := range []string{"mb3_large", "mb3_small"} {
		t.Run(name, func(t *testing.T) {
			m := buildSSD(t, name)
			checkSSDStructure(t, name, m, readSSDGolden(t, name))
			if got := m.Backbone.Modules(); !slices.Equal(got, []string{"base_net", "extras"}) {
				t.Errorf("Modules() = %v", got)
			}
		})
	}
}

// TestMobileNetV3Synthetic compares the whole model's feature maps, conf and loc with
// the reference's on formula weights and input (eval mode, 300×300).
func TestMobileNetV3Synthetic(t *testing.T) {
	for _, name := range []string{"mb3_large", "mb3_small"} {
		t.Run(name, func(t *testing.T) { checkSynthetic(t, name) })
	}
}

// TestMobileNetV3Init checks the reference's initialisation of the base net (kaiming
// normal, fan out), which the extra Blocks do not share (torch's default uniform).
func TestMobileNetV3Init(t *testing.T) {
	_, vs := build(t, "mobilenet_v3_large", nil)
	root := vs.Root()
	// base_net.18: the 1x1 convolution 160 → 960, std √(2/960) ≈ 0.0456 over 153,600 values.
	w := root.MustGet("base_net.18.weight")
	if std, want := w.MustStd(true, false).Float64Values(true)[0], math.Sqrt(2.0/960); math.Abs(std-want) > 0.01*want {
		t.Errorf("base_net.18.weight: std %.4g, want %.4g", std, want)
	}
	// extras.0.conv1: 960 → 256, uniform within ±1/√960 ≈ 0.0323.
	e := root.MustGet("extras.0.conv1.weight")
	if m, bound := e.MustAbs(false).MustMax(true).Float64Values(true)[0], 1/math.Sqrt(960); m > bound || m < 0.99*bound {
		t.Errorf("extras.0.conv1.weight: max |w| %.4g, want just under %.4g", m, bound)
	}
}

// TestMobileNetV3ForwardBackward runs a training forward and backward pass of the whole
// mb3-large-ssd-lite (batch 2, 160×160): every parameter gets a finite, non-zero
// gradient, and the batch norms' running statistics move.
func TestMobileNetV3ForwardBackward(t *testing.T) {
	for _, name := range []string{"mb3_large", "mb3_small"} {
		t.Run(name, func(t *testing.T) {
			m := buildSSD(t, name)
			root := m.VarStore().Root()
			stat := "base_net.13.se.se.2.running_mean" // a squeeze-and-excite batch norm in both
			before := root.MustGet(stat).MustAbs(false).MustSum(gotch.Double, true).Float64Values(true)[0]
			x := ts.MustRandn([]int64{2, 3, 160, 160}, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			start := time.Now()
			gradMode(t, true, func() {
				conf, loc, err := m.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				defer conf.MustDrop()
				defer loc.MustDrop()
				n := int64(6 * (10*10 + 5*5 + 3*3 + 2*2 + 1 + 1))
				if got := conf.MustSize(); !slices.Equal(got, []int64{2, n, 21}) {
					t.Errorf("conf shape %v, want [2 %d 21]", got, n)
				}
				backwardAll(t, m.VarStore(), []*ts.Tensor{conf, loc})
			})
			t.Logf("forward+backward, batch 2, 160×160: %v", time.Since(start))
			after := root.MustGet(stat).MustAbs(false).MustSum(gotch.Double, true).Float64Values(true)[0]
			if before != 0 || after == 0 {
				t.Errorf("%s: |running_mean| summed %v before and %v after a training pass", stat, before, after)
			}
		})
	}
}

// TestHardActivationsV3 checks HardSwish and HardSigmoid, out of place and in place
// (inside a Seq, on an intermediate), against x·relu6(x+3)/6 and relu6(x+3)/6, values
// and gradients, for inputs spread over every piece of the functions.
func TestHardActivationsV3(t *testing.T) {
	for _, c := range []struct {
		name string
		act  backbone.Layer
		ref  func(x *ts.Tensor) *ts.Tensor
	}{
		{"hardswish", backbone.HardSwish{}, func(x *ts.Tensor) *ts.Tensor {
			s := torch.NewScope()
			defer s.Close()
			r := s.T(torch.AddScalar(x, 3).MustRelu6(true))
			return torch.DivScalar(s.T(x.MustMul(r, false)), 6)
		}},
		{"hardsigmoid", backbone.HardSigmoid{}, func(x *ts.Tensor) *ts.Tensor {
			return torch.DivScalar(torch.AddScalar(x, 3).MustRelu6(true), 6)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gradMode(t, true, func() {
				r := ts.MustRandn([]int64{1, 4, 8, 8}, gotch.Float, gotch.CPU)
				leaf := torch.MulScalar(r, 4).MustSetRequiresGrad(true, true)
				r.MustDrop()
				defer leaf.MustDrop()
				w := ts.MustRandn([]int64{1, 4, 8, 8}, gotch.Float, gotch.CPU)
				defer w.MustDrop()
				// grads runs f on an intermediate (2·leaf) and returns f's output and the
				// gradient of sum(output·w) with respect to leaf.
				grads := func(f func(*ts.Tensor) *ts.Tensor) (out, grad *ts.Tensor) {
					in := torch.MulScalar(leaf, 2)
					out = f(in)
					in.MustDrop()
					loss := out.MustMul(w, false).MustSum(gotch.Float, true)
					loss.MustBackward()
					loss.MustDrop()
					g := leaf.MustGrad(false)
					grad = torch.AddScalar(g, 0) // a copy: ZeroGrad zeroes g in place
					g.MustDrop()
					if err := torch.ZeroGrad(leaf); err != nil {
						t.Fatal(err)
					}
					return out, grad
				}
				// A 1x1 max pooling copies its input, so that the activation after it runs
				// in place on an intermediate that the Seq owns.
				seq := backbone.NewSeq(nn.NewVarStore(gotch.CPU).Root()).MaxPool(backbone.MaxPool2d{Kernel: 1, Stride: 1}).Add(c.act)
				wantOut, wantGrad := grads(c.ref)
				defer wantOut.MustDrop()
				defer wantGrad.MustDrop()
				for _, mode := range []struct {
					name string
					f    func(*ts.Tensor) *ts.Tensor
				}{
					{"in place", func(in *ts.Tensor) *ts.Tensor { return seq.Forward(in, true) }},
					{"out of place", func(in *ts.Tensor) *ts.Tensor { return c.act.Forward(in, true) }},
				} {
					out, grad := grads(mode.f)
					if d := maxAbsDiff(out, wantOut); d > 1e-6 {
						t.Errorf("%s: values differ by %g", mode.name, d)
					}
					if d := maxAbsDiff(grad, wantGrad); d > 1e-6 {
						t.Errorf("%s: gradients differ by %g", mode.name, d)
					}
					out.MustDrop()
					grad.MustDrop()
				}
			})
		})
	}
}

// TestMobileNetV3Errors checks that options are refused and the inputs Forward refuses.
func TestMobileNetV3Errors(t *testing.T) {
	root := nn.NewVarStore(gotch.CPU).Root()
	for _, name := range []string{"mobilenet_v3_large", "mobilenet_v3_small"} {
		_, err := backbone.Build(registry.Ref{Type: name, Options: map[string]any{"width_mult": 0.5}}, root)
		if err == nil || !strings.Contains(err.Error(), "takes no options") {
			t.Errorf("%s with width_mult: error %v, want it to contain %q", name, err, "takes no options")
		}
	}
	if _, err := backbone.NewMobileNetV3(root, "mobilenet_v3"); err == nil || !strings.Contains(err.Error(), "unknown variant") {
		t.Errorf("unknown variant: %v", err)
	}
	bb, _ := build(t, "mobilenet_v3_small", nil)
	x := ts.MustZeros([]int64{1, 3, 64, 64}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := bb.Forward(x, true); err == nil || !strings.Contains(err.Error(), "batch of at least 2") {
		t.Errorf("training on one image: error %v", err)
	}
	gray := ts.MustZeros([]int64{2, 1, 64, 64}, gotch.Float, gotch.CPU)
	defer gray.MustDrop()
	if _, err := bb.Forward(gray, false); err == nil || !strings.Contains(err.Error(), "[B,3,H,W]") {
		t.Errorf("one-channel input: error %v", err)
	}
	// Every layer pads: even a 1×1 image goes through (all maps 1×1).
	tiny := ts.MustZeros([]int64{1, 3, 1, 1}, gotch.Float, gotch.CPU)
	defer tiny.MustDrop()
	feats, err := bb.Forward(tiny, false)
	if err != nil || len(feats) != 6 {
		t.Errorf("1×1 input: %d maps, error %v", len(feats), err)
	}
	dropAll(feats)
}

// TestMobileNetV3ForwardFreesIntermediates runs the whole mb3-large-ssd-lite repeatedly
// (eval, batch 1, 300×300) and checks that the C heap stays flat: leaking even one of the
// smallest base-net intermediates (112×19×19 floats, 162 KB) would show.
func TestMobileNetV3ForwardFreesIntermediates(t *testing.T) {
	if testing.Short() {
		t.Skip("memory check skipped in -short mode")
	}
	checkEvalHeapFlat(t, buildSSD(t, "mb3_large"))
}

// checkEvalHeapFlat runs 2 + 8 eval forward passes of m (no gradients, batch 1,
// 300×300) and fails if the C heap grows by more than 32 KB per pass.
func checkEvalHeapFlat(t *testing.T, m *model.SSD) {
	t.Helper()
	x := ts.MustRandn([]int64{1, 3, 300, 300}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	var g torch.Growth
	gradMode(t, false, func() {
		var err error
		g, err = torch.MeasureGrowth(2, 8, func(int) error {
			conf, loc, err := m.Forward(x, false)
			if err != nil {
				return err
			}
			conf.MustDrop()
			loc.MustDrop()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("10 forward passes in %v; per pass: C heap %+.1f KB, RSS %+.1f KB",
		time.Since(start), g.MallocPerStep()/1024, g.RSSPerStep()/1024)
	if g.MallocPerStep() > 32<<10 {
		t.Errorf("the C heap grew by %.1f KB per forward pass", g.MallocPerStep()/1024)
	}
}
