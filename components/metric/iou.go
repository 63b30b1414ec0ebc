package metric

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// vocIoU returns the IoU of each pair as the reference computes it: box_utils.iou_of on
// float32 boxes, with its 1e-5 added to the union (boxes.BroadcastIoU, bit for bit).
func vocIoU(s *set, p pairs) ([]float64, error) {
	n := len(p.gt)
	if n == 0 {
		return nil, nil
	}
	a := make([]float32, 0, 4*n)
	b := make([]float32, 0, 4*n)
	for d := range s.dets {
		box := s.dets[d].Box
		for _, g := range p.gt[p.start[d]:p.start[d+1]] {
			gb := s.gtBox[g]
			a = append(a, float32(box[0]), float32(box[1]), float32(box[2]), float32(box[3]))
			b = append(b, float32(gb[0]), float32(gb[1]), float32(gb[2]), float32(gb[3]))
		}
	}
	sc := torch.NewScope()
	defer sc.Close()
	at, err := boxTensor(sc, a, n)
	if err != nil {
		return nil, err
	}
	bt, err := boxTensor(sc, b, n)
	if err != nil {
		return nil, err
	}
	iou, err := boxes.BroadcastIoU(at, bt, boxes.DefaultEps)
	if err != nil {
		return nil, fmt.Errorf("IoU: %w", err)
	}
	return float64s(sc, sc.T(sc.T(iou).MustTotype(gotch.Double, false)))
}

// cocoIoU returns the IoU of each pair as pycocotools computes it for boxes (bbIou in
// its maskApi.c, float64): boxes become (x, y, w, h), the overlap is
// min(x+w, x'+w') - max(x, x') (0 unless both sides are positive), and the union of a
// pair whose ground truth is a crowd region (here: difficult) is the detection's area.
func cocoIoU(s *set, p pairs) ([]float64, error) {
	n := len(p.gt)
	if n == 0 {
		return nil, nil
	}
	a := make([]float64, 0, 4*n)
	b := make([]float64, 0, 4*n)
	crowd := make([]byte, n)
	for d := range s.dets {
		box := s.dets[d].Box
		for k, g := range p.gt[p.start[d]:p.start[d+1]] {
			gb := s.gtBox[g]
			a = append(a, box[0], box[1], box[2]-box[0], box[3]-box[1])
			b = append(b, gb[0], gb[1], gb[2]-gb[0], gb[3]-gb[1])
			if s.gtHard[g] {
				crowd[int(p.start[d])+k] = 1
			}
		}
	}
	sc := torch.NewScope()
	defer sc.Close()
	dt, err := boxTensor(sc, a, n)
	if err != nil {
		return nil, err
	}
	gt, err := boxTensor(sc, b, n)
	if err != nil {
		return nil, err
	}
	isCrowd, err := flagTensor(sc, crowd)
	if err != nil {
		return nil, err
	}
	col := func(t *ts.Tensor, i int64) *ts.Tensor { return sc.T(t.MustSelect(1, i, false)) }
	zero := sc.Float(0)
	// side returns the overlap of the intervals [x, x+w] of the two boxes along one axis,
	// clamped at 0 (bbIou leaves the IoU at 0 when either side is <= 0).
	side := func(axis int64) *ts.Tensor {
		dx, dw := col(dt, axis), col(dt, axis+2)
		gx, gw := col(gt, axis), col(gt, axis+2)
		hi := sc.T(sc.T(dx.MustAdd(dw, false)).MustMinimum(sc.T(gx.MustAdd(gw, false)), false))
		lo := sc.T(dx.MustMaximum(gx, false))
		return sc.T(sc.T(hi.MustSub(lo, false)).MustClampMin(zero, false))
	}
	inter := sc.T(side(0).MustMul(side(1), false))
	da := sc.T(col(dt, 2).MustMul(col(dt, 3), false))
	ga := sc.T(col(gt, 2).MustMul(col(gt, 3), false))
	plain := sc.T(sc.T(da.MustAdd(ga, false)).MustSub(inter, false))
	union := sc.T(da.MustWhereSelf(isCrowd, plain, false))
	// A zero overlap gives 0 whatever the union, also when the union is 0 (two empty boxes).
	safe := sc.T(union.MustClampMin(sc.Float(math.SmallestNonzeroFloat64), false))
	return float64s(sc, sc.T(inter.MustDiv(safe, false)))
}
