package nn

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// folded is a convolution's kernel and bias with the batch norm that follows it folded
// in, for inference.
type folded struct {
	weight, bias *ts.Tensor
}

// FoldBatchNorms folds, for inference, every batch norm of s that directly follows a
// convolution into that convolution (as ONNX Runtime, TensorRT and torch's
// fuse_conv_bn_eval do): with g = weight / sqrt(running_var + eps) per output channel, the
// convolution's kernel becomes kernel·g and its bias (bias − running_mean)·g + bias of the
// norm, computed in float64 and rounded to the kernel's dtype once. In evaluation mode
// (Forward's train false) the convolution then runs with those and the batch norm passes
// its input through, which saves the batch norm's pass over the activations; training
// mode still runs both layers from their variables, which are left unchanged. The
// results equal the unfolded layers' up to float32 rounding. It is meant for a model that
// will not train any more: the folded values are taken from the variables now. Nested
// sequences are left to their own call. It returns the tensors it made (owned by the
// caller, who frees them after the last Forward) and how many pairs it folded.
func (s *Seq) FoldBatchNorms() (made []*ts.Tensor, n int, err error) {
	defer torch.Recover(&err)
	err = torch.NoGrad(func() error {
		for i := 0; i+1 < len(s.Layers); i++ {
			c, ok := s.Layers[i].(*Conv2d)
			if !ok || c.folded != nil {
				continue
			}
			b, ok := s.Layers[i+1].(*BatchNorm2d)
			if !ok || b.folded {
				continue
			}
			f, err := foldConvBN(c, b)
			if err != nil {
				return fmt.Errorf("fold the batch norm at %d into the convolution at %d: %w", i+1, i, err)
			}
			c.folded, b.folded = f, true
			made = append(made, f.weight, f.bias)
			n++
		}
		return nil
	})
	return made, n, err
}

// foldConvBN computes c's kernel and bias with b folded in.
func foldConvBN(c *Conv2d, b *BatchNorm2d) (*folded, error) {
	s := torch.NewScope()
	defer s.Close()
	dt := c.Weight.DType()
	d := func(t *ts.Tensor) *ts.Tensor { return s.T(t.MustTotype(gotch.Double, false)) }
	eps := s.Float(BatchNormEps)
	std := s.T(d(b.RunningVar).MustAddScalar(eps, false).MustSqrt(true))
	g := s.T(d(b.Weight).MustDiv(std, false))
	out := c.Weight.MustSize()[0]
	if n := g.MustSize()[0]; n != out {
		return nil, fmt.Errorf("the batch norm has %d channels, the convolution %d outputs", n, out)
	}
	w := s.T(d(c.Weight).MustMul(s.T(g.MustView([]int64{out, 1, 1, 1}, false)), false))
	bias := s.T(d(b.RunningMean).MustNeg(false))
	if c.Bias != nil {
		bias = s.T(bias.MustAdd(d(c.Bias), false))
	}
	bias = s.T(bias.MustMul(g, false).MustAdd(d(b.Bias), true))
	fw := w.MustTotype(dt, false)
	if torch.IsChannelsLast(c.Weight) {
		if err := torch.SetChannelsLast(fw); err != nil {
			fw.MustDrop()
			return nil, err
		}
	}
	return &folded{weight: fw, bias: bias.MustTotype(dt, false)}, nil
}

// passes reports whether the layer, a batch norm folded into the convolution before it,
// passes its input through: in evaluation mode, when that convolution runs folded.
func (b *BatchNorm2d) passes(train bool) bool { return b.folded && !train }
