package backbone_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
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
			checkModules(t, m.Backbone, "base_net", "extras")
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
	// base_net.18: the 1x1 convolution 160 → 960, std √(2/960) ≈ 0.0456 over 153,600 values.
	if sd, want := stdDev(mustGet(t, vs, "base_net.18.weight")), math.Sqrt(2.0/960); math.Abs(sd-want) > 0.01*want {
		t.Errorf("base_net.18.weight: std %.4g, want %.4g", sd, want)
	}
	// extras.0.conv1: 960 → 256, uniform within ±1/√960 ≈ 0.0323.
	if m, bound := absMax(mustGet(t, vs, "extras.0.conv1.weight")), 1/math.Sqrt(960); m > bound || m < 0.99*bound {
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
			stat := "base_net.13.se.se.2.running_mean" // a squeeze-and-excite batch norm in both
			checkBackward(t, m.VarStore(), []int64{2, 3, 160, 160}, stat, modelTrain(m), func(outs []*ts.Tensor) {
				n := int64(6 * (10*10 + 5*5 + 3*3 + 2*2 + 1 + 1))
				if got := outs[0].MustSize(); !slices.Equal(got, []int64{2, n, 21}) {
					t.Errorf("conf shape %v, want [2 %d 21]", got, n)
				}
			})
		})
	}
}

// TestHardActivationsV3 checks HardSwish and HardSigmoid, out of place and in place
// (inside a Seq, on an intermediate), against x·relu6(x+3)/6 and relu6(x+3)/6, values
// and gradients, for inputs spread over every piece of the functions.
func TestHardActivationsV3(t *testing.T) {
	for _, c := range []struct {
		name string
		act  nn.Layer
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
				seq := nn.NewSeq(gnn.NewVarStore(gotch.CPU).Root()).MaxPool(nn.MaxPool2d{Kernel: 1, Stride: 1}).Add(c.act)
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
					// Element-wise activations and their gradients: the vectorised and
					// scalar kernels (ATEN_CPU_CAPABILITY) round differently by an ulp or
					// two, so the bound is 1e-6 (~8 ulps) of the largest magnitude; a wrong
					// formula is off by 1e-2 of it or more.
					if d, m := maxAbsDiff(out, wantOut), absMax(wantOut); d > 1e-6*m {
						t.Errorf("%s: values differ by %g (max |value| %g)", mode.name, d, m)
					}
					if d, m := maxAbsDiff(grad, wantGrad), absMax(wantGrad); d > 1e-6*m {
						t.Errorf("%s: gradients differ by %g (max |gradient| %g)", mode.name, d, m)
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
	root := gnn.NewVarStore(gotch.CPU).Root()
	for _, name := range []string{"mobilenet_v3_large", "mobilenet_v3_small"} {
		checkBuildError(t, root, name, map[string]any{"width_mult": 0.5}, "takes no options")
	}
	if _, err := backbone.NewMobileNetV3(root, "mobilenet_v3"); err == nil || !strings.Contains(err.Error(), "unknown variant") {
		t.Errorf("unknown variant: %v", err)
	}
	bb, _ := build(t, "mobilenet_v3_small", nil)
	checkForwardError(t, bb, []int64{1, 3, 64, 64}, true, "batch of at least 2")
	checkForwardError(t, bb, []int64{2, 1, 64, 64}, false, "[B,3,H,W]")
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
// (eval, batch 1, 300×300, 2 + 8 passes) and checks that the C heap stays flat (at most
// 32 KB per pass): leaking even one of the smallest base-net intermediates (112×19×19
// floats, 162 KB) would show.
func TestMobileNetV3ForwardFreesIntermediates(t *testing.T) {
	skipShort(t, "memory check")
	checkEvalMemory(t, modelEval(buildSSD(t, "mb3_large")), []int64{1, 3, 300, 300}, 2, 8, 32<<10)
}
