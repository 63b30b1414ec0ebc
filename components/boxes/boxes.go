// Package boxes holds the bounding-box tensor utilities of SSD: conversions between
// corner form (xmin, ymin, xmax, ymax) and center form (cx, cy, w, h), areas, IoU, and the
// encoding of boxes as regression targets relative to priors (and its inverse).
//
// Every function works on whole tensors whose last dimension holds the 4 coordinates and
// runs the same libtorch operations, in the same order, as the PyTorch SSD project's
// box utilities, so float32 results agree with it bit for bit. Inputs are float32 or
// float64; results are new tensors owned by the caller, and inputs are never modified.
package boxes

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Variances scale the encoded center offsets and log size ratios (SSD's "variances").
type Variances struct {
	Center float64 // divides the center offsets (the reference's center_variance)
	Size   float64 // divides the log size ratios (the reference's size_variance)
}

// DefaultVariances are the values of every reference configuration.
var DefaultVariances = Variances{Center: 0.1, Size: 0.2}

func (v Variances) check() error {
	if !(v.Center > 0) || !(v.Size > 0) {
		return fmt.Errorf("variances must be > 0, got center %g size %g", v.Center, v.Size)
	}
	return nil
}

// CenterToCorner converts [..., 4] center-form boxes to corner form.
func CenterToCorner(b *ts.Tensor) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if err := checkBoxes("boxes", b); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	xy, wh := split(s, b)
	half := s.T(torch.DivScalar(wh, 2))
	lo := s.T(xy.MustSub(half, false))
	hi := s.T(xy.MustAdd(half, false))
	return ts.MustCat([]ts.Tensor{*lo, *hi}, -1), nil
}

// CornerToCenter converts [..., 4] corner-form boxes to center form.
func CornerToCenter(b *ts.Tensor) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if err := checkBoxes("boxes", b); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	lt, rb := split(s, b)
	center := s.T(torch.DivScalar(s.T(lt.MustAdd(rb, false)), 2))
	size := s.T(rb.MustSub(lt, false))
	return ts.MustCat([]ts.Tensor{*center, *size}, -1), nil
}

// Area returns the [...] areas of [..., 4] corner-form boxes; inverted boxes have area 0.
func Area(b *ts.Tensor) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if err := checkBoxes("boxes", b); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	lt, rb := split(s, b)
	return area(s, lt, rb), nil
}

// area computes the areas of the boxes with corners lt and rb ([..., 2] each); the
// result is not registered with s.
func area(s *torch.Scope, lt, rb *ts.Tensor) *ts.Tensor {
	zero := ts.FloatScalar(0)
	defer zero.MustDrop()
	hw := s.T(s.T(rb.MustSub(lt, false)).MustClampMin(zero, false))
	w := s.T(hw.MustSelect(-1, 0, false))
	h := s.T(hw.MustSelect(-1, 1, false))
	return w.MustMul(h, false)
}

// split returns views of the first and last two coordinates of b, registered with s.
func split(s *torch.Scope, b *ts.Tensor) (first, last *ts.Tensor) {
	return s.T(b.MustNarrow(-1, 0, 2, false)), s.T(b.MustNarrow(-1, 2, 2, false))
}

func checkBoxes(what string, b *ts.Tensor) error {
	if b == nil {
		return fmt.Errorf("%s: nil tensor", what)
	}
	size, err := b.Size()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(size) == 0 || size[len(size)-1] != 4 {
		return fmt.Errorf("%s: shape %v, want [..., 4]", what, size)
	}
	if dt := b.DType(); dt != gotch.Float && dt != gotch.Double {
		return fmt.Errorf("%s: dtype %v, want float32 or float64", what, dt)
	}
	return nil
}
