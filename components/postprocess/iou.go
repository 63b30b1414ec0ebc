package postprocess

import (
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// The IoU values of this package equal boxes.IoU's (and so the reference's iou_of) bit
// for bit: the same operations in the same order, with boxes.DefaultEps. They work on
// the four coordinates as separate tensors rather than on strided coordinate pairs, which
// takes a fraction of the time for the sizes of NMS: the columns' coordinates copied into
// contiguous rows (the inner loop of each operation runs along them), the rows' read in
// place (each is read once per row of the matrix).

// pairIoU returns the [..., n, m] IoU matrices of corner-form boxes a [..., n, 4] and
// b [..., m, 4] (float32, validated by the caller; equal leading dimensions), registered
// with s.
func pairIoU(s *torch.Scope, a, b *ts.Tensor) *ts.Tensor {
	var ca, cb [4]*ts.Tensor
	// b's coordinates as contiguous rows (the inner loop of every operation below runs
	// along them); a's are read once per row of the matrix, in place.
	bt := s.T(s.T(b.MustTranspose(-1, -2, false)).MustContiguous(false)) // [..., 4, m]
	for k := range ca {
		ca[k] = s.T(a.MustNarrow(-1, int64(k), 1, false))  // [..., n, 1]
		cb[k] = s.T(bt.MustNarrow(-2, int64(k), 1, false)) // [..., 1, m]
	}
	return iouOf(s, ca, cb)
}

// iouOf computes the reference's iou_of from the coordinates (x1, y1, x2, y2) of the
// boxes a and b, which broadcast against each other: its operations in its order, with
// the full-size intermediates computed in place into three matrices instead of a new one
// per operation (the same values; the matrices of NMS are 40-160 KB, and the fourteen
// that the out-of-place form allocated per IoU made malloc trim its heap and fault the
// pages back in on every call).
func iouOf(s *torch.Scope, a, b [4]*ts.Tensor) *ts.Tensor {
	zero := s.Float(0)
	clampSide := func(hi, lo *ts.Tensor) { // hi = clamp(hi - lo, min=0)
		inPlace(hi, func(t *ts.Tensor) error { return t.Sub_(lo) })
		inPlace(hi, func(t *ts.Tensor) error { return t.ClampMin_(zero) })
	}
	area := func(c [4]*ts.Tensor) *ts.Tensor { // clamp(x2 - x1, 0) * clamp(y2 - y1, 0)
		w, h := s.T(c[2].MustSub(c[0], false)), s.T(c[3].MustSub(c[1], false))
		inPlace(w, func(t *ts.Tensor) error { return t.ClampMin_(zero) })
		inPlace(h, func(t *ts.Tensor) error { return t.ClampMin_(zero) })
		inPlace(w, func(t *ts.Tensor) error { return t.Mul_(h) })
		return w
	}
	// overlap = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0), in w.
	lo := s.T(a[0].MustMaximum(b[0], false))
	w := s.T(a[2].MustMinimum(b[2], false))
	clampSide(w, lo)
	a[1].MustMaximumOut(lo, b[1], false).MustDrop() // a second handle on lo
	h := s.T(a[3].MustMinimum(b[3], false))
	clampSide(h, lo)
	inPlace(w, func(t *ts.Tensor) error { return t.Mul_(h) })
	// union = areaA + areaB - overlap, in lo; then overlap / (union + eps), in w.
	area(a).MustAddOut(lo, area(b), false).MustDrop()
	eps := s.Float(box.DefaultEps)
	inPlace(lo, func(t *ts.Tensor) error { return t.Sub_(w) })
	inPlace(lo, func(t *ts.Tensor) error { return t.AddScalar_(eps) })
	inPlace(w, func(t *ts.Tensor) error { return t.Div_(lo) })
	return w
}

// inPlace runs one of gotch's in-place operations on t through torch.InPlace (which frees
// the handle gotch leaks); like gotch's Must* calls, it panics on a libtorch error, which
// the package's entry points recover into an error.
func inPlace(t *ts.Tensor, op func(*ts.Tensor) error) {
	if err := torch.InPlace(t, op); err != nil {
		panic(err)
	}
}
