package backbone

import (
	"fmt"
	"math"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

func init() {
	Registry.Register(registry.Spec{
		Name: "squeezenet",
		Summary: "SqueezeNet 1.1 base net of the reference's sq-ssd-lite (feature maps after fire module 11: 512 channels) " +
			"with its separable extra layers (512, 512, 256, 256, 256 channels)",
	}, func(_ any, root *gnn.Path) (Backbone, error) {
		return NewSqueezeNet(root), nil
	})
}

// squeezeNetPool marks a max pooling (3x3, stride 2, floor) in squeezeNetPlan.
var squeezeNetPool = [3]int{}

// squeezeNetPlan is SqueezeNet 1.1's features after its first convolution and ReLU:
// fire modules (squeeze channels, expand1x1 and expand3x3 channels) and poolings.
var squeezeNetPlan = [][3]int{
	squeezeNetPool, {16, 64, 64}, {16, 64, 64}, squeezeNetPool, {32, 128, 128}, {32, 128, 128},
	squeezeNetPool, {48, 192, 192}, {48, 192, 192}, {64, 256, 256}, {64, 256, 256},
}

// squeezeNetTap is the base-net index before which the first feature map is taken (the
// reference's source layer 12): the output of fire module base_net.11.
const squeezeNetTap = 12

// squeezeNetExtras are the extra stages: a 1x1 convolution to mid channels, a ReLU and
// a separable convolution to out channels (depthwise 3x3 of stride 2 with the given
// padding, ReLU, pointwise 1x1; no activation after it).
var squeezeNetExtras = []struct{ mid, out, pad int }{
	{256, 512, 2}, {256, 512, 1}, {128, 256, 1}, {128, 256, 1}, {128, 256, 1},
}

// SqueezeNet is the feature extractor of the reference's sq-ssd-lite
// (vision/nn/squeezenet.py's squeezenet1_1 features, vision/ssd/squeezenet_ssd_lite.py).
//
// base_net.0 is conv3x3(stride 2, no padding, 64 channels, bias), base_net.1 a ReLU,
// then max poolings (3x3, stride 2, floor) at 2, 5 and 8 and fire modules at 3, 4, 6, 7
// and 9…12 (variables base_net.i.squeeze, .expand1x1, .expand3x3). Feature maps: the
// output of base_net.11 (512 channels, 17×17 for a 300×300 input) and the five extra
// stages (512, 512, 256, 256, 256 channels; 10, 5, 3, 2, 1), the first of which reads
// the output of base_net.12. Each extra stage is extras.i.0 (1x1 convolution), a ReLU,
// then extras.i.2.0 (depthwise 3x3, stride 2, padding 2 for the first stage and 1 for the
// others), a ReLU and extras.i.2.2 (pointwise 1x1); all with bias, no batch norm.
type SqueezeNet struct {
	Base   *nn.Seq
	Extras []*nn.Seq
}

// NewSqueezeNet creates the backbone's variables under root.Sub("base_net") and
// root.Sub("extras"). Base-net convolutions are initialised as the reference's SqueezeNet
// does (kaiming uniform, fan in: U(±√(6/fan_in)), biases 0); the extra layers keep torch's
// defaults.
func NewSqueezeNet(root *gnn.Path) *SqueezeNet {
	m := &SqueezeNet{Base: nn.NewSeq(root.Sub("base_net"))}
	m.Base.Add(newSqueezeNetConv(m.Base.Next(), nn.ConvSpec{In: 3, Out: 64, Kernel: 3, Stride: 2})).ReLU()
	in := 64
	for _, f := range squeezeNetPlan {
		if f == squeezeNetPool {
			m.Base.MaxPool(nn.MaxPool2d{Kernel: 3, Stride: 2})
			continue
		}
		m.Base.Add(newFire(m.Base.Next(), in, f[0], f[1], f[2]))
		in = f[1] + f[2]
	}
	extras := root.Sub("extras")
	for i, e := range squeezeNetExtras {
		s := nn.NewSeq(extras.Sub(fmt.Sprint(i)))
		s.Conv(nn.ConvSpec{In: in, Out: e.mid, Kernel: 1}).ReLU().Sub().
			Conv(nn.ConvSpec{In: e.mid, Out: e.mid, Kernel: 3, Stride: 2, Padding: e.pad, Groups: e.mid}).ReLU().
			Conv(nn.ConvSpec{In: e.mid, Out: e.out, Kernel: 1})
		m.Extras = append(m.Extras, s)
		in = e.out
	}
	return m
}

// Channels returns the channels of each feature map: 512, 512, 512, 256, 256, 256.
func (m *SqueezeNet) Channels() []int {
	out := []int{512}
	for _, e := range squeezeNetExtras {
		out = append(out, e.out)
	}
	return out
}

// Modules returns "base_net" and "extras".
func (m *SqueezeNet) Modules() []string { return []string{"base_net", "extras"} }

// Forward returns the six feature maps; the caller owns them. Every intermediate tensor
// is freed before it returns.
func (m *SqueezeNet) Forward(x *ts.Tensor, train bool) (feats []*ts.Tensor, err error) {
	if err := CheckInput(x); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	defer recoverForward(&feats, &err)
	tap := m.Base.ForwardRange(x, train, 0, squeezeNetTap)
	feats = append(make([]*ts.Tensor, 0, 1+len(m.Extras)), tap)
	cur := s.T(m.Base.ForwardRange(tap, train, squeezeNetTap, m.Base.Len()))
	for _, e := range m.Extras {
		cur = e.Forward(cur, train)
		feats = append(feats, cur)
	}
	return feats, nil
}

// newSqueezeNetConv creates a convolution (with bias) initialised as the reference's
// SqueezeNet does: weight kaiming uniform (a=0, fan in), bias 0.
func newSqueezeNetConv(p *gnn.Path, s nn.ConvSpec) *nn.Conv2d {
	c := nn.NewConv2d(p, s)
	bound := math.Sqrt(6 / float64(s.In/one(s.Groups)*s.Kernel*s.Kernel))
	reinit(c.Weight, nn.Uniform{Lo: -bound, Up: bound})
	reinit(c.Bias, gnn.NewConstInit(0))
	return c
}

// fire is SqueezeNet's Fire module: a 1x1 "squeeze" convolution and a ReLU, then the
// concatenation over channels of a 1x1 "expand1x1" and a 3x3 "expand3x3" (padding 1)
// convolution, each followed by a ReLU.
type fire struct {
	Squeeze, Expand1x1, Expand3x3 *nn.Conv2d
}

func newFire(p *gnn.Path, in, squeeze, e1, e3 int) *fire {
	return &fire{
		Squeeze:   newSqueezeNetConv(p.Sub("squeeze"), nn.ConvSpec{In: in, Out: squeeze, Kernel: 1}),
		Expand1x1: newSqueezeNetConv(p.Sub("expand1x1"), nn.ConvSpec{In: squeeze, Out: e1, Kernel: 1}),
		Expand3x3: newSqueezeNetConv(p.Sub("expand3x3"), nn.ConvSpec{In: squeeze, Out: e3, Kernel: 3, Padding: 1}),
	}
}

// Forward runs the module; the caller owns the result, x is left alone. The ReLUs run in
// place on the convolutions' outputs.
func (f *fire) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	s := torch.NewScope()
	defer s.Close()
	sq := s.T(f.Squeeze.Forward(x, train))
	nn.ReLU{}.ForwardInPlace(sq)
	a := s.T(f.Expand1x1.Forward(sq, train))
	nn.ReLU{}.ForwardInPlace(a)
	b := s.T(f.Expand3x3.Forward(sq, train))
	nn.ReLU{}.ForwardInPlace(b)
	return nn.Must("cat")(ts.Cat([]ts.Tensor{*a, *b}, 1))
}
