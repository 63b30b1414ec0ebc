package backbone

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
)

// This file holds the layers of mobilenet_v2 beyond those of the layer kit (components/nn).

// normalInit draws from N(0, std²) (gotch's own randn init ignores the deviation when
// the mean is 0).
type normalInit struct{ std float64 }

// InitTensor returns a new [dims] float tensor; the caller owns it.
func (n normalInit) InitTensor(dims []int64, device gotch.Device) *ts.Tensor {
	sc := ts.FloatScalar(n.std)
	defer sc.MustDrop()
	return ts.MustRandn(dims, gotch.Float, device).MustMulScalar(sc, true)
}

// Set overwrites t with fresh values, without recording the copy for autograd. It
// copies into a detached alias of t rather than switching grad mode off: libtorch's grad
// mode is per OS thread and a goroutine may change threads between the switch and its
// restore, leaving some thread without gradients.
func (n normalInit) Set(t *ts.Tensor) {
	v := n.InitTensor(t.MustSize(), t.MustDevice())
	defer v.MustDrop()
	alias := t.MustDetach(false)
	defer alias.MustDrop()
	alias.Copy_(v)
}

// newConv2dInit creates a convolution like NewConv2d but with its weight drawn from
// init (the bias, if any, keeps torch's default uniform init).
func newConv2dInit(p *gnn.Path, s nn.ConvSpec, init gnn.Init) *nn.Conv2d {
	c := nn.NewConv2d(p, s)
	init.Set(c.Weight)
	return c
}

// mobileNetV2Init is the weight init of the reference's MobileNetV2 (its
// _initialize_weights, applied to the base net only): N(0, 2/n) with n = K·K·Out.
func mobileNetV2Init(s nn.ConvSpec) gnn.Init {
	return normalInit{std: math.Sqrt(2 / float64(s.Kernel*s.Kernel*s.Out))}
}

// irOptions are the per-network choices of an inverted residual block.
type irOptions struct {
	batchNorm bool
	act       nn.Layer // ReLU{} or ReLU6{}
	// init draws the convolution weights; nil keeps torch's default init.
	init func(nn.ConvSpec) gnn.Init
}

// invertedResidual is the reference's InvertedResidual block: an optional 1x1 expansion
// to round(In·expand) channels, a depthwise 3x3 (stride 1 or 2) and a linear 1x1
// projection, each convolution without bias and followed by a batch norm when enabled,
// the first two by the activation. Its layers live under "conv" (conv.0 …) and, when
// the stride is 1 and In == Out, the input is added to the output.
type invertedResidual struct {
	Conv     *nn.Seq
	Residual bool
	// Hidden is the channel count after the expansion (the depthwise width).
	Hidden int
}

// newInvertedResidual creates the block's variables under p.Sub("conv").
func newInvertedResidual(p *gnn.Path, in, out, stride int, expand float64, o irOptions) (*invertedResidual, error) {
	if stride != 1 && stride != 2 {
		return nil, fmt.Errorf("inverted residual: stride must be 1 or 2, got %d", stride)
	}
	// Python's round(): halves go to the even neighbour.
	hidden := int(math.RoundToEven(float64(in) * expand))
	if hidden < 1 {
		return nil, fmt.Errorf("inverted residual: %d input channels × expand ratio %v gives no channels", in, expand)
	}
	b := &invertedResidual{Conv: nn.NewSeq(p.Sub("conv")), Residual: stride == 1 && in == out, Hidden: hidden}
	conv := func(s nn.ConvSpec) {
		s.NoBias = true
		if o.init != nil {
			b.Conv.Add(newConv2dInit(b.Conv.Next(), s, o.init(s)))
		} else {
			b.Conv.Conv(s)
		}
		if o.batchNorm {
			b.Conv.BatchNorm(s.Out)
		}
	}
	if expand != 1 {
		conv(nn.ConvSpec{In: in, Out: hidden, Kernel: 1})
		b.Conv.Add(o.act)
	}
	conv(nn.ConvSpec{In: hidden, Out: hidden, Kernel: 3, Stride: stride, Padding: 1, Groups: hidden})
	b.Conv.Add(o.act)
	conv(nn.ConvSpec{In: hidden, Out: out, Kernel: 1})
	return b, nil
}

// Forward runs the block; the caller owns the result, x is left alone.
func (b *invertedResidual) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	y := b.Conv.Forward(x, train)
	if b.Residual {
		// y is ours and the batch norm or convolution that produced it does not need its
		// output for the backward pass, so the sum can overwrite it.
		nn.MustInPlace("add_", y, func(t *ts.Tensor) error { return t.Add_(x) })
	}
	return y
}
