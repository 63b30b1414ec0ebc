// Package nn is the project's layer kit: Conv2d, BatchNorm2d, activations, MaxPool2d and
// Seq (torch's nn.Sequential), with variables named as torch's state_dict keys. The
// backbones and heads are built from it.
package nn

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Layer is one module of a sequential stack.
//
// Forward returns a new tensor that the caller owns; it never frees x. When a libtorch op
// fails (an input with the wrong channels, or too small for a kernel) the layers of this
// package panic with an *OpError, which torch.Recover turns back into an error at the API
// boundary (as it does with the libtorch errors that gotch's patched Must* calls panic with).
type Layer interface {
	Forward(x *ts.Tensor, train bool) *ts.Tensor
}

// MustInPlace applies a gotch in-place op through torch.InPlace (gotch's own in-place
// wrappers leak the tensor they replace), panicking with an *OpError on failure.
func MustInPlace(op string, x *ts.Tensor, f func(*ts.Tensor) error) {
	if err := torch.InPlace(x, f); err != nil {
		panic(&OpError{Op: op, Err: err})
	}
}

// InPlacer is implemented by element-wise layers that can overwrite their input. Seq uses
// it on intermediates it owns (like torch's ReLU(inplace=True)); it is only valid when the
// backward of the op that produced the input does not need that op's output, which holds
// for the convolutions, batch norms and poolings of this package.
type InPlacer interface {
	ForwardInPlace(x *ts.Tensor)
}

// ConvSpec describes a 2-D convolution the way torch.nn.Conv2d's arguments do. Zero
// Stride, Dilation and Groups mean 1; the bias is on unless NoBias.
type ConvSpec struct {
	In, Out, Kernel                   int
	Stride, Padding, Dilation, Groups int
	NoBias                            bool
}

// Conv2d is a 2-D convolution with variables "weight" [Out, In/Groups, K, K] and, unless
// NoBias, "bias" [Out].
type Conv2d struct {
	Weight, Bias *ts.Tensor // Bias is nil without bias
	Spec         ConvSpec
	folded       *folded // the batch norm after it folded in, for evaluation mode (Seq.FoldBatchNorms)
}

// NewConv2d creates the variables of a convolution under p, initialised as torch does
// by default: weight and bias uniform in ±1/sqrt(fan_in), fan_in = In/Groups·K·K
// (kaiming_uniform with a=√5). It panics on an inconsistent spec (a programming error).
func NewConv2d(p *gnn.Path, s ConvSpec) *Conv2d {
	s.Stride, s.Dilation, s.Groups = one(s.Stride), one(s.Dilation), one(s.Groups)
	if s.In <= 0 || s.Out <= 0 || s.Kernel <= 0 || s.In%s.Groups != 0 || s.Out%s.Groups != 0 {
		panic(fmt.Sprintf("nn: invalid convolution %+v", s))
	}
	fanIn := s.In / s.Groups * s.Kernel * s.Kernel
	bound := 1 / math.Sqrt(float64(fanIn))
	c := &Conv2d{Spec: s}
	k := int64(s.Kernel)
	c.Weight = p.MustNewVar("weight", []int64{int64(s.Out), int64(s.In / s.Groups), k, k}, Uniform{-bound, bound})
	if !s.NoBias {
		c.Bias = p.MustNewVar("bias", []int64{int64(s.Out)}, Uniform{-bound, bound})
	}
	return c
}

// Uniform is a gotch nn.Init drawing from U(Lo, Up). gotch's own uniform initialisers call its
// leaking in-place wrapper (the tensor handle they replace is never freed, so a model's
// parameters would outlive it); this one goes through torch.InPlace.
type Uniform struct{ Lo, Up float64 }

// InitTensor returns a new float tensor of the given shape.
func (u Uniform) InitTensor(dims []int64, device gotch.Device) *ts.Tensor {
	t := ts.MustZeros(dims, gotch.Float, device)
	u.Set(t)
	return t
}

// Set refills t in place.
func (u Uniform) Set(t *ts.Tensor) {
	MustInPlace("uniform_", t, func(t *ts.Tensor) error { return t.Uniform_(u.Lo, u.Up) })
}

func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// Forward applies the convolution (in evaluation mode, with the batch norm after it
// when that was folded in).
func (c *Conv2d) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	weight, bias := c.Weight, c.Bias
	if c.folded != nil && !train {
		weight, bias = c.folded.weight, c.folded.bias
	}
	if bias == nil {
		bias = ts.None
	}
	s := c.Spec
	return Must("conv2d")(ts.Conv2d(x, weight, bias, pair(s.Stride), pair(s.Padding), pair(s.Dilation), int64(s.Groups)))
}

func pair(v int) []int64 { return []int64{int64(v), int64(v)} }

// BatchNorm2d is torch's BatchNorm2d (eps 1e-5, momentum 0.1, affine, tracking running
// statistics) with variables "weight", "bias" (trainable) and "running_mean",
// "running_var" (not trainable). torch's "num_batches_tracked" buffer only matters when
// momentum is None, so it is not kept.
//
// Frozen keeps the layer in evaluation mode whatever Forward's train says: it normalises
// with its running statistics and leaves them unchanged (a frozen module's batch norms,
// see model.SSD.Freeze).
//
// Sync, when set, normalises in training mode over the batches of every process of a
// data-parallel job instead of this process's batch alone (training.sync_batchnorm, see
// SyncNorm); evaluation mode and frozen layers never use it.
type BatchNorm2d struct {
	Weight, Bias, RunningMean, RunningVar *ts.Tensor
	Frozen                                bool
	Sync                                  SyncNorm
	folded                                bool // into the convolution before it (Seq.FoldBatchNorms)
}

// SyncNorm is training-mode batch normalisation over the batches of several processes
// (torch's SyncBatchNorm): the statistics of all the processes' inputs together, the
// running statistics moved towards them, and a backward pass that makes the input
// gradients those of one batch norm over the concatenated batch. internal/dist's Group
// implements it over its process group.
type SyncNorm interface {
	SyncBatchNorm(x, weight, bias, runningMean, runningVar *ts.Tensor, momentum, eps float64) (*ts.Tensor, error)
}

// BatchNorm returns the layer itself: model.SSD.Freeze finds the batch norms of a module
// through this method.
func (b *BatchNorm2d) BatchNorm() *BatchNorm2d { return b }

// BatchNorm eps and momentum, torch's defaults.
const (
	BatchNormEps      = 1e-5
	BatchNormMomentum = 0.1
)

// NewBatchNorm2d creates the variables of a batch norm over c channels under p,
// initialised as torch does: weight 1, bias 0, running mean 0, running variance 1.
func NewBatchNorm2d(p *gnn.Path, c int) *BatchNorm2d { return NewBatchNorm2dGamma(p, c, 1) }

// NewBatchNorm2dGamma is NewBatchNorm2d with the weight (gamma) initialised to gamma
// instead of 1: 0 makes a branch that ends in this batch norm start as a zero map (the
// "zero-gamma" initialisation of residual branches, Goyal et al. 2017).
func NewBatchNorm2dGamma(p *gnn.Path, c int, gamma float64) *BatchNorm2d {
	d := []int64{int64(c)}
	return &BatchNorm2d{
		Weight:      p.MustNewVar("weight", d, gnn.NewConstInit(gamma)),
		Bias:        p.MustNewVar("bias", d, gnn.NewConstInit(0)),
		RunningMean: p.MustZerosNoTrain("running_mean", d),
		RunningVar:  p.MustOnesNoTrain("running_var", d),
	}
}

// Forward normalises with the batch's statistics and updates the running ones when
// train, and with the running statistics otherwise.
func (b *BatchNorm2d) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	return b.ForwardWith(x, train, BatchNormMomentum, BatchNormEps)
}

// ForwardWith is Forward with the given momentum and eps (torch's meanings). Folded
// into the convolution before it, in evaluation mode, it returns (a shallow clone of) x.
func (b *BatchNorm2d) ForwardWith(x *ts.Tensor, train bool, momentum, eps float64) *ts.Tensor {
	if b.passes(train) {
		return x.MustShallowClone()
	}
	train = train && !b.Frozen
	if train && b.Sync != nil {
		return Must("sync_batch_norm")(b.Sync.SyncBatchNorm(x, b.Weight, b.Bias, b.RunningMean, b.RunningVar, momentum, eps))
	}
	return Must("batch_norm")(ts.BatchNorm(x, b.Weight, b.Bias, b.RunningMean, b.RunningVar, train, momentum, eps, true))
}

// ReLU is max(x, 0).
type ReLU struct{}

// Forward applies the activation.
func (ReLU) Forward(x *ts.Tensor, _ bool) *ts.Tensor { return x.MustRelu(false) }
func (ReLU) ForwardInPlace(x *ts.Tensor)             { MustInPlace("relu_", x, (*ts.Tensor).Relu_) }

// ReLU6 is min(max(x, 0), 6).
type ReLU6 struct{}

// Forward applies the activation.
func (ReLU6) Forward(x *ts.Tensor, _ bool) *ts.Tensor { return x.MustRelu6(false) }
func (ReLU6) ForwardInPlace(x *ts.Tensor)             { MustInPlace("relu6_", x, (*ts.Tensor).Relu6_) }

// MaxPool2d is torch's MaxPool2d with square kernel, stride (0 means the kernel size),
// padding and ceil_mode.
type MaxPool2d struct {
	Kernel, Stride, Padding int
	CeilMode                bool
}

// Forward applies the pooling.
func (m MaxPool2d) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	stride := m.Stride
	if stride == 0 {
		stride = m.Kernel
	}
	return Must("max_pool2d")(x.MaxPool2d(pair(m.Kernel), pair(stride), pair(m.Padding), pair(1), m.CeilMode, false))
}

// Seq runs layers in order, like torch's nn.Sequential: element i keeps its variables
// under the sub-path "i" of the Seq's path, and parameter-free layers (activations,
// poolings) take an index too, so names match torch's state_dict keys. Build one with
// NewSeq and the chained adders:
//
//	s := NewSeq(root.Sub("base_net").Sub("0"))
//	s.Conv(ConvSpec{In: 3, Out: 32, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}).BatchNorm(32).ReLU()
//	// variables base_net.0.0.weight, base_net.0.1.{weight,bias,running_mean,running_var}
type Seq struct {
	Layers []Layer
	path   *gnn.Path
}

// NewSeq returns an empty Seq whose elements go under p.
func NewSeq(p *gnn.Path) *Seq { return &Seq{path: p} }

// Next returns the path of the element the next Add will append.
func (s *Seq) Next() *gnn.Path { return s.path.Sub(strconv.Itoa(len(s.Layers))) }

// Add appends a layer built by the caller (normally under Next()).
func (s *Seq) Add(l Layer) *Seq {
	s.Layers = append(s.Layers, l)
	return s
}

// Conv appends a convolution.
func (s *Seq) Conv(c ConvSpec) *Seq { return s.Add(NewConv2d(s.Next(), c)) }

// BatchNorm appends a batch norm over c channels.
func (s *Seq) BatchNorm(c int) *Seq { return s.Add(NewBatchNorm2d(s.Next(), c)) }

// ReLU appends a ReLU.
func (s *Seq) ReLU() *Seq { return s.Add(ReLU{}) }

// ReLU6 appends a ReLU6.
func (s *Seq) ReLU6() *Seq { return s.Add(ReLU6{}) }

// MaxPool appends a max pooling.
func (s *Seq) MaxPool(m MaxPool2d) *Seq { return s.Add(m) }

// Sub appends a nested, empty Seq and returns it (not s) for filling.
func (s *Seq) Sub() *Seq {
	sub := NewSeq(s.Next())
	s.Add(sub)
	return sub
}

// Len returns the number of elements.
func (s *Seq) Len() int { return len(s.Layers) }

// Forward runs every layer; the caller owns the result, x is left alone.
func (s *Seq) Forward(x *ts.Tensor, train bool) *ts.Tensor {
	return s.ForwardRange(x, train, 0, len(s.Layers))
}

// ForwardRange runs layers [from, to) (torch's seq[from:to]); the caller owns the
// result, x is left alone. Intermediates are freed as soon as the next layer has run;
// activations run in place on intermediates. An empty range returns a shallow clone of x.
func (s *Seq) ForwardRange(x *ts.Tensor, train bool, from, to int) *ts.Tensor {
	cur, owned := x, false
	for _, l := range s.Layers[from:to] {
		if bn, ok := l.(*BatchNorm2d); ok && bn.passes(train) {
			continue // folded into the convolution before it
		}
		if ip, ok := l.(InPlacer); ok && owned {
			ip.ForwardInPlace(cur)
			continue
		}
		next := l.Forward(cur, train)
		if owned {
			cur.MustDrop()
		}
		cur, owned = next, true
	}
	if !owned {
		return x.MustShallowClone()
	}
	return cur
}

// OpError is the panic value of a layer whose libtorch op failed.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }

// Unwrap returns the libtorch error.
func (e *OpError) Unwrap() error { return e.Err }

// Must returns a function that passes a tensor through, or panics with an *OpError: the
// way layers (here and in the backbones) call gotch's error-returning ops.
func Must(op string) func(*ts.Tensor, error) *ts.Tensor {
	return func(t *ts.Tensor, err error) *ts.Tensor {
		if err != nil {
			panic(&OpError{Op: op, Err: err})
		}
		return t
	}
}
