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
// boxes a and b, which broadcast against each other.
func iouOf(s *torch.Scope, a, b [4]*ts.Tensor) *ts.Tensor {
	zero := s.Float(0)
	side := func(lo, hi *ts.Tensor) *ts.Tensor { // clamp(hi - lo, min=0)
		return s.T(s.T(hi.MustSub(lo, false)).MustClampMin(zero, false))
	}
	w := side(s.T(a[0].MustMaximum(b[0], false)), s.T(a[2].MustMinimum(b[2], false)))
	h := side(s.T(a[1].MustMaximum(b[1], false)), s.T(a[3].MustMinimum(b[3], false)))
	overlap := s.T(w.MustMul(h, false))
	areaA := s.T(side(a[0], a[2]).MustMul(side(a[1], a[3]), false))
	areaB := s.T(side(b[0], b[2]).MustMul(side(b[1], b[3]), false))
	union := s.T(s.T(areaA.MustAdd(areaB, false)).MustSub(overlap, false))
	return s.T(overlap.MustDiv(s.T(union.MustAddScalar(s.Float(box.DefaultEps), false)), false))
}
