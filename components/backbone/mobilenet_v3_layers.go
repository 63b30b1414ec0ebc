package backbone

import (
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
)

// This file holds the layers of mobilenet_v3 beyond those of the layer kit (components/nn):
// the hard activations, squeeze-and-excite and the reference's MobileNetV3 "Block".

// HardSwish is x·relu6(x+3)/6 (the reference's hswish), as libtorch's single
// hardswish op.
type HardSwish struct{}

// Forward applies the activation.
func (HardSwish) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	return nn.Must("hardswish")(x.Hardswish(false))
}

// ForwardInPlace is valid for autograd too: libtorch's hardswish_ keeps what its backward
// needs.
func (HardSwish) ForwardInPlace(x *ts.Tensor) {
	nn.MustInPlace("hardswish_", x, (*ts.Tensor).Hardswish_)
}

// HardSigmoid is relu6(x+3)/6 (the reference's hsigmoid), as libtorch's single
// hardsigmoid op.
type HardSigmoid struct{}

// Forward applies the activation.
func (HardSigmoid) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	return nn.Must("hardsigmoid")(x.Hardsigmoid(false))
}

func (HardSigmoid) ForwardInPlace(x *ts.Tensor) {
	nn.MustInPlace("hardsigmoid_", x, (*ts.Tensor).Hardsigmoid_)
}

// GlobalAvgPool is torch's AdaptiveAvgPool2d(1): the mean of each channel, [B,C,1,1].
type GlobalAvgPool struct{}

// Forward applies the pooling.
func (GlobalAvgPool) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	return nn.Must("adaptive_avg_pool2d")(x.AdaptiveAvgPool2d([]int64{1, 1}, false))
}

// reinit overwrites t with values drawn by init, without recording the copy for autograd
// (through a detached alias, as normalInit.Set does).
func reinit(t *ts.Tensor, init gnn.Init) {
	v := init.InitTensor(t.MustSize(), t.MustDevice())
	defer v.MustDrop()
	alias := t.MustDetach(false)
	defer alias.MustDrop()
	alias.Copy_(v)
}

// squeezeExcite is the reference's SeModule: x·gate(x), the gate being, under "se",
// a global average pooling (se.0), a 1x1 convolution to C/4 channels (se.1, no bias),
// a batch norm (se.2), a ReLU (se.3), a 1x1 convolution back to C (se.4, no bias), a
// batch norm (se.5) and a hard sigmoid (se.6).
type squeezeExcite struct {
	Gate *nn.Seq
}

// newSqueezeExcite creates the module's variables under p.Sub("se"); init draws the
// convolution weights (nil: torch's default).
func newSqueezeExcite(p *gnn.Path, c int, init func(nn.ConvSpec) gnn.Init) *squeezeExcite {
	g := nn.NewSeq(p.Sub("se"))
	mid := c / 4
	g.Add(GlobalAvgPool{})
	addConv(g, nn.ConvSpec{In: c, Out: mid, Kernel: 1, NoBias: true}, init)
	g.BatchNorm(mid).ReLU()
	addConv(g, nn.ConvSpec{In: mid, Out: c, Kernel: 1, NoBias: true}, init)
	g.BatchNorm(c).Add(HardSigmoid{})
	return &squeezeExcite{Gate: g}
}

// Forward returns x·gate(x); the caller owns the result, x is left alone.
func (s *squeezeExcite) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	g := s.Gate.Forward(x, train)
	defer g.MustDrop()
	return nn.Must("mul")(x.Mul(g, false))
}

// addConv appends a convolution to s, its weight drawn by init (nil: torch's default).
func addConv(s *nn.Seq, c nn.ConvSpec, init func(nn.ConvSpec) gnn.Init) {
	if init == nil {
		s.Conv(c)
		return
	}
	s.Add(newConv2dInit(s.Next(), c, init(c)))
}

// mb3BlockSpec is one row of a MobileNetV3 table: kernel size, expansion width, output
// channels, activation, squeeze-and-excite and stride.
type mb3BlockSpec struct {
	kernel, expand, out int
	hswish, se          bool
	stride              int
}

// mb3Block is the reference's MobileNetV3 Block: conv1 (1x1 to the expansion width),
// bn1, activation, conv2 (depthwise k×k, stride, padding k/2), bn2, activation, conv3
// (1x1 projection), bn3, all convolutions without bias; then, if any, the
// squeeze-and-excite module "se"; with stride 1 the input is added, through "shortcut"
// (1x1 convolution shortcut.0 and batch norm shortcut.1) when the channels change. Unlike
// MobileNetV2's block, the expansion convolution is always there.
type mb3Block struct {
	Body     *nn.Seq // conv1 … bn3, each under its own name
	SE       *squeezeExcite
	Shortcut *nn.Seq // nil: the identity
	Residual bool
}

// newMb3Block creates the block's variables under p; init draws the convolution weights
// (nil: torch's default).
func newMb3Block(p *gnn.Path, in int, s mb3BlockSpec, init func(nn.ConvSpec) gnn.Init) *mb3Block {
	var act nn.Layer = nn.ReLU{}
	if s.hswish {
		act = HardSwish{}
	}
	conv := func(name string, c nn.ConvSpec) nn.Layer {
		c.NoBias = true
		if init == nil {
			return nn.NewConv2d(p.Sub(name), c)
		}
		return newConv2dInit(p.Sub(name), c, init(c))
	}
	b := &mb3Block{Body: &nn.Seq{}, Residual: s.stride == 1}
	b.Body.Add(conv("conv1", nn.ConvSpec{In: in, Out: s.expand, Kernel: 1})).
		Add(nn.NewBatchNorm2d(p.Sub("bn1"), s.expand)).Add(act).
		Add(conv("conv2", nn.ConvSpec{In: s.expand, Out: s.expand, Kernel: s.kernel, Stride: s.stride, Padding: s.kernel / 2, Groups: s.expand})).
		Add(nn.NewBatchNorm2d(p.Sub("bn2"), s.expand)).Add(act).
		Add(conv("conv3", nn.ConvSpec{In: s.expand, Out: s.out, Kernel: 1})).
		Add(nn.NewBatchNorm2d(p.Sub("bn3"), s.out))
	if s.se {
		b.SE = newSqueezeExcite(p.Sub("se"), s.out, init)
	}
	if b.Residual && in != s.out {
		b.Shortcut = nn.NewSeq(p.Sub("shortcut"))
		addConv(b.Shortcut, nn.ConvSpec{In: in, Out: s.out, Kernel: 1, NoBias: true}, init)
		b.Shortcut.BatchNorm(s.out)
	}
	return b
}

// Forward runs the block; the caller owns the result, x is left alone.
func (b *mb3Block) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	y := b.Body.Forward(x, train)
	if b.SE != nil {
		z := b.SE.Forward(y, train)
		y.MustDrop()
		y = z
	}
	if !b.Residual {
		return y
	}
	// y is ours, and the batch norm or product that made it does not need its own output
	// for the backward pass, so the sum can overwrite it.
	skip := x
	if b.Shortcut != nil {
		skip = b.Shortcut.Forward(x, train)
		defer skip.MustDrop()
	}
	nn.MustInPlace("add_", y, func(t *ts.Tensor) error { return t.Add_(skip) })
	return y
}
