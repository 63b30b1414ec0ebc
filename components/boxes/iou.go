package boxes

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// DefaultEps is the reference's term added to IoU denominators (so the IoU of a box
// with itself is slightly below 1, and that of two empty boxes is 0).
const DefaultEps = 1e-5

// IoU returns the [N, M] intersection-over-union matrix of corner-form boxes a [N, 4]
// and b [M, 4], with DefaultEps. Each entry equals, bit for bit, the reference's iou_of
// of the pair in either order, so IoU(priors, gt) is the reference's matching matrix.
func IoU(a, b *ts.Tensor) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	for _, in := range []struct {
		name string
		t    *ts.Tensor
	}{{"a", a}, {"b", b}} {
		if err := checkBoxes(in.name, in.t); err != nil {
			return nil, err
		}
		if in.t.Dim() != 2 {
			return nil, fmt.Errorf("%s: shape %v, want [N, 4]", in.name, in.t.MustSize())
		}
	}
	s := torch.NewScope()
	defer s.Close()
	return broadcastIoU(s, s.T(a.MustUnsqueeze(1, false)), s.T(b.MustUnsqueeze(0, false)), DefaultEps), nil
}

// BroadcastIoU returns the IoU of corner-form boxes a and b [..., 4] whose leading
// dimensions broadcast against each other (the reference's iou_of), with the given eps.
func BroadcastIoU(a, b *ts.Tensor, eps float64) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if err := checkBoxes("a", a); err != nil {
		return nil, err
	}
	if err := checkBoxes("b", b); err != nil {
		return nil, err
	}
	if !(eps >= 0) {
		return nil, fmt.Errorf("eps must be >= 0, got %g", eps)
	}
	if err := checkBroadcast(a.MustSize(), b.MustSize()); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	return broadcastIoU(s, a, b, eps), nil
}

func broadcastIoU(s *torch.Scope, a, b *ts.Tensor, eps float64) *ts.Tensor {
	alt, arb := split(s, a)
	blt, brb := split(s, b)
	lt := s.T(alt.MustMaximum(blt, false))
	rb := s.T(arb.MustMinimum(brb, false))
	overlap := s.T(area(s, lt, rb))
	areaA := s.T(area(s, alt, arb))
	areaB := s.T(area(s, blt, brb))
	union := s.T(s.T(areaA.MustAdd(areaB, false)).MustSub(overlap, false))
	return overlap.MustDiv(s.T(torch.AddScalar(union, eps)), false)
}

// checkBroadcast reports whether two shapes broadcast (NumPy rules).
func checkBroadcast(a, b []int64) error {
	for i := 1; i <= len(a) && i <= len(b); i++ {
		x, y := a[len(a)-i], b[len(b)-i]
		if x != y && x != 1 && y != 1 {
			return fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return nil
}
