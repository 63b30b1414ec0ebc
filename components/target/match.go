package target

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// checkInputs validates the ground truth of one image and returns its boxes as G*4
// values (xmin, ymin, xmax, ymax per box) and G. Boxes and labels are read into Go once:
// the label check and the per-box work of Match run on them there.
func (m *Matcher) checkInputs(gtBoxes, gtLabels *ts.Tensor) ([]float32, int64, error) {
	if gtBoxes == nil || gtLabels == nil {
		return nil, 0, fmt.Errorf("target: nil ground-truth tensor")
	}
	bs, err := gtBoxes.Size()
	if err != nil {
		return nil, 0, fmt.Errorf("target: ground-truth boxes: %w", err)
	}
	ls, err := gtLabels.Size()
	if err != nil {
		return nil, 0, fmt.Errorf("target: ground-truth labels: %w", err)
	}
	if len(bs) != 2 || bs[1] != 4 {
		return nil, 0, fmt.Errorf("target: ground-truth boxes: shape %v, want [G,4]", bs)
	}
	if len(ls) != 1 || ls[0] != bs[0] {
		return nil, 0, fmt.Errorf("target: ground-truth labels: shape %v, want [%d] (one per box)", ls, bs[0])
	}
	if gtBoxes.DType() != gotch.Float {
		return nil, 0, fmt.Errorf("target: ground-truth boxes: dtype %v, want float32", gtBoxes.DType())
	}
	if gtLabels.DType() != gotch.Int64 {
		return nil, 0, fmt.Errorf("target: ground-truth labels: dtype %v, want int64", gtLabels.DType())
	}
	for _, t := range []*ts.Tensor{gtBoxes, gtLabels} {
		if d, err := t.Device(); err != nil || d != m.device {
			return nil, 0, fmt.Errorf("target: ground truth on device %v, priors on %v", d, m.device)
		}
	}
	g := bs[0]
	if g == 0 {
		return nil, 0, nil
	}
	labels := make([]int64, g)
	if err := gtLabels.CopyData(labels, uint(g)); err != nil {
		return nil, 0, fmt.Errorf("target: ground-truth labels: %w", err)
	}
	minLabel := labels[0]
	for _, l := range labels[1:] {
		minLabel = min(minLabel, l)
	}
	if minLabel < 1 {
		return nil, 0, fmt.Errorf("target: ground-truth label %d: labels must be >= 1 (0 is the background)", minLabel)
	}
	coords := make([]float32, 4*g)
	if err := gtBoxes.CopyData(coords, uint(4*g)); err != nil {
		return nil, 0, fmt.Errorf("target: ground-truth boxes: %w", err)
	}
	return coords, g, nil
}

// perBox holds one image's per-box values, views of one tensor built in Go.
type perBox struct {
	lt, rb *ts.Tensor // [2,G,1]: (xmin, ymin) and (xmax, ymax), coordinate-major
	area   *ts.Tensor // [G,1]: areas, as the reference's area_of
	xy, wh *ts.Tensor // [G,2]: centre form (cx, cy) and (w, h), as corner_form_to_center_form
}

// prepare computes the per-box values of the G ground truths in Go (a handful of boxes)
// and returns them as views of one new tensor on the matcher's device, registered with s.
// Each value is the result of the same float32 operations, in the same order, as the
// reference's area_of and corner_form_to_center_form (Go rounds every float32 operation,
// and the explicit conversions below forbid fused multiply-adds), so it is bit for bit
// the reference's, NaN and infinity included (up to NaN payloads).
func (m *Matcher) prepare(s *torch.Scope, c []float32, g int64) (perBox, error) {
	n := int(g)
	buf := make([]float32, 9*n) // lt [2,G] | rb [2,G] | area [G] | xy [G,2] | wh [G,2]
	for i := 0; i < n; i++ {
		x1, y1, x2, y2 := c[4*i], c[4*i+1], c[4*i+2], c[4*i+3]
		w, h := float32(x2-x1), float32(y2-y1)
		buf[i], buf[n+i], buf[2*n+i], buf[3*n+i] = x1, y1, x2, y2
		buf[4*n+i] = float32(clampMin0(w) * clampMin0(h))
		buf[5*n+2*i], buf[5*n+2*i+1] = float32(x1+x2)/2, float32(y1+y2)/2
		buf[7*n+2*i], buf[7*n+2*i+1] = w, h
	}
	t, err := m.fromGo(s, buf)
	if err != nil {
		return perBox{}, err
	}
	view := func(size, stride []int64, offset int) *ts.Tensor {
		return s.T(t.MustAsStrided(size, stride, []int64{int64(offset)}, false))
	}
	return perBox{
		lt:   view([]int64{2, g, 1}, []int64{g, 1, 1}, 0),
		rb:   view([]int64{2, g, 1}, []int64{g, 1, 1}, 2*n),
		area: view([]int64{g, 1}, []int64{1, 1}, 4*n),
		xy:   view([]int64{g, 2}, []int64{2, 1}, 5*n),
		wh:   view([]int64{g, 2}, []int64{2, 1}, 7*n),
	}, nil
}

// clampMin0 is torch.clamp(x, min=0) on one float32: NaN and -0 pass through.
func clampMin0(x float32) float32 {
	if x < 0 {
		return 0
	}
	return x
}

// fromGo returns a new 1-D tensor of data ([]float32 or []int64) on the matcher's
// device, registered with s.
func (m *Matcher) fromGo(s *torch.Scope, data any) (*ts.Tensor, error) {
	t, err := ts.OfSlice(data)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	s.T(t)
	if m.device != gotch.CPU {
		t = s.T(t.MustTo(m.device, false))
	}
	return t, nil
}

// iou returns the [G,P] IoU matrix of the ground truths and the priors, registered with
// s: entry [g,p] is bit for bit entry [p,g] of the reference's matrix (iou_of with
// eps 1e-5). Same operations as boxes.IoU, laid out with the priors along the
// contiguous dimension.
func (m *Matcher) iou(s *torch.Scope, gt perBox) (*ts.Tensor, error) {
	c := m.scalars
	lt := s.T(gt.lt.MustMaximum(m.lt, false))    // [2,G,P] left-top corners of the overlaps
	wh := s.T(gt.rb.MustMinimum(m.rb, false))    // [2,G,P] right-bottom corners, then sizes
	w := s.T(wh.MustSelect(0, 0, false))         // [G,P] views of wh; w becomes the overlap,
	h := s.T(wh.MustSelect(0, 1, false))         // then the IoU
	union := s.T(gt.area.MustAdd(m.area, false)) // [G,P]
	err := applyInPlace(
		inPlaceOp{wh, func(t *ts.Tensor) error { return t.Sub_(lt) }},
		inPlaceOp{wh, func(t *ts.Tensor) error { return t.ClampMin_(c.zero) }},
		inPlaceOp{w, func(t *ts.Tensor) error { return t.Mul_(h) }},
		inPlaceOp{union, func(t *ts.Tensor) error { return t.Sub_(w) }},
		inPlaceOp{union, func(t *ts.Tensor) error { return t.AddScalar_(c.eps) }},
		inPlaceOp{w, func(t *ts.Tensor) error { return t.Div_(union) }},
	)
	return w, err
}

// inPlaceOp is one of gotch's in-place methods (applied to the argument) and its tensor.
type inPlaceOp struct {
	t  *ts.Tensor
	op func(*ts.Tensor) error
}

// applyInPlace runs the ops in order through torch.InPlace (which frees the handles that
// gotch's in-place methods leave) and stops at the first error.
func applyInPlace(ops ...inPlaceOp) error {
	for _, o := range ops {
		if err := torch.InPlace(o.t, o.op); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	return nil
}

// force applies step 3 of Match to bestGT and assigned ([P], per prior) in place: every
// ground truth j claims its best prior bestPrior[j] with IoU 2. The reference does it in a
// loop over j, so when ground truths share a best prior the last one keeps it; here the
// winner of each shared prior is found in Go on the G indices, so that every write of the
// single index_copy_ carries the same value (index_copy_ leaves the order of duplicate
// writes unspecified).
func (m *Matcher) force(s *torch.Scope, bestGT, assigned, bestPrior *ts.Tensor, g int64) error {
	prior := make([]int64, g)
	if err := bestPrior.CopyData(prior, uint(g)); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	last := make(map[int64]int64, g) // prior -> the last ground truth forcing it
	for j, p := range prior {
		last[p] = int64(j)
	}
	winner := make([]int64, g)
	for j, p := range prior {
		winner[j] = last[p]
	}
	w, err := m.fromGo(s, winner)
	if err != nil {
		return err
	}
	return applyInPlace(
		inPlaceOp{assigned, func(t *ts.Tensor) error { return t.IndexCopy_(0, bestPrior, w) }},
		inPlaceOp{bestGT, func(t *ts.Tensor) error { return t.IndexFill_(0, bestPrior, m.scalars.two) }},
	)
}

// labels returns the [P] labels, registered with s: the assigned ground truth's label, 0
// where bestGT is below the threshold.
func (m *Matcher) labels(s *torch.Scope, gtLabels, bestGT, assigned *ts.Tensor) (*ts.Tensor, error) {
	background := s.T(bestGT.MustLt(m.scalars.threshold, false))
	labels := s.T(gtLabels.MustIndexSelect(0, assigned, false))
	err := applyInPlace(inPlaceOp{labels, func(t *ts.Tensor) error {
		return t.MaskedFill_(background, m.scalars.background)
	}})
	return labels, err
}

// encode returns the [P,4] locations of the assigned ground truths (new, owned by the
// caller): the reference's convert_boxes_to_locations, each half computed as there into
// a contiguous [P,2] tensor (the logarithm's input and output included), in place.
func (m *Matcher) encode(s *torch.Scope, gt perBox, assigned *ts.Tensor) (*ts.Tensor, error) {
	c := m.scalars
	xy := s.T(gt.xy.MustIndexSelect(0, assigned, false)) // [P,2] matched centres
	wh := s.T(gt.wh.MustIndexSelect(0, assigned, false)) // [P,2] matched sizes
	err := applyInPlace(
		inPlaceOp{xy, func(t *ts.Tensor) error { return t.Sub_(m.xy) }},
		inPlaceOp{xy, func(t *ts.Tensor) error { return t.Div_(m.wh) }},
		inPlaceOp{xy, func(t *ts.Tensor) error { return t.DivScalar_(c.center) }},
		inPlaceOp{wh, func(t *ts.Tensor) error { return t.Div_(m.wh) }},
		inPlaceOp{wh, (*ts.Tensor).Log_},
		inPlaceOp{wh, func(t *ts.Tensor) error { return t.DivScalar_(c.size) }},
	)
	if err != nil {
		return nil, err
	}
	loc, err := ts.Cat([]ts.Tensor{*xy, *wh}, 1)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	return loc, nil
}
