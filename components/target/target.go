// Package target turns an image's ground-truth boxes into SSD training targets: every
// prior gets a class label (0 for background) and the regression target that locates its
// matched ground-truth box relative to it.
//
// Matching reproduces the PyTorch SSD project's assign_priors and MatchPrior exactly,
// tie-breaking included (see Matcher.Match), with whole-tensor libtorch operations.
// CheckBoxes rejects the degenerate ground-truth boxes that would turn the targets, and
// then the loss, into NaN or infinity.
package target

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Matcher assigns ground-truth boxes to a fixed set of priors. It owns a copy of the
// priors (in centre and corner form); Close frees them. A Matcher is safe for concurrent
// use by several goroutines (e.g. data-loading workers): Match only reads it.
type Matcher struct {
	center    *ts.Tensor // [P,4] centre form, float32
	corner    *ts.Tensor // [P,4] corner form, float32, as the reference computes it
	threshold float64
	v         boxes.Variances
	numPriors int64
	device    gotch.Device
}

// NewMatcher copies priors ([P,4] float32, centre form (cx, cy, w, h) relative to the
// image) and returns a Matcher that labels a prior positive when its IoU with a ground
// truth reaches iouThreshold (0 < iouThreshold <= 1; the reference trains with 0.5), and
// encodes locations with the variances v. Priors must have finite coordinates and
// positive widths and heights.
func NewMatcher(priors *ts.Tensor, iouThreshold float64, v boxes.Variances) (*Matcher, error) {
	if err := checkPriors(priors); err != nil {
		return nil, err
	}
	if !(iouThreshold > 0 && iouThreshold <= 1) {
		return nil, fmt.Errorf("target: IoU threshold must be in (0, 1], got %g", iouThreshold)
	}
	if !(v.Center > 0) || !(v.Size > 0) || math.IsInf(v.Center, 0) || math.IsInf(v.Size, 0) {
		return nil, fmt.Errorf("target: variances must be finite and > 0, got center %g size %g", v.Center, v.Size)
	}
	dev, err := priors.Device()
	if err != nil {
		return nil, fmt.Errorf("target: priors: %w", err)
	}
	detached := priors.MustDetach(false)
	center := ts.MustCat([]ts.Tensor{*detached}, 0) // a copy: the caller may free or change priors
	detached.MustDrop()
	corner, err := boxes.CenterToCorner(center)
	if err != nil {
		center.MustDrop()
		return nil, fmt.Errorf("target: priors: %w", err)
	}
	return &Matcher{
		center:    center,
		corner:    corner,
		threshold: iouThreshold,
		v:         v,
		numPriors: center.MustSize()[0],
		device:    dev,
	}, nil
}

// checkPriors validates the shape, dtype and values of the priors.
func checkPriors(p *ts.Tensor) error {
	if p == nil {
		return fmt.Errorf("target: priors: nil tensor")
	}
	size, err := p.Size()
	if err != nil {
		return fmt.Errorf("target: priors: %w", err)
	}
	if len(size) != 2 || size[1] != 4 || size[0] == 0 {
		return fmt.Errorf("target: priors: shape %v, want [P,4] with P > 0", size)
	}
	if p.DType() != gotch.Float {
		return fmt.Errorf("target: priors: dtype %v, want float32", p.DType())
	}
	s := torch.NewScope()
	defer s.Close()
	finite := s.T(s.T(p.MustIsfinite(false)).MustAll(false)).Int64Values()[0]
	wh := s.T(p.MustNarrow(1, 2, 2, false))
	minSize := s.T(wh.MustMin(false)).Float64Values()[0]
	if finite == 0 || !(minSize > 0) {
		return fmt.Errorf("target: priors must be finite with width and height > 0 (smallest size %g)", minSize)
	}
	return nil
}

// NumPriors returns P, the number of priors.
func (m *Matcher) NumPriors() int64 { return m.numPriors }

// Close frees the matcher's tensors. The matcher must not be used afterwards.
func (m *Matcher) Close() {
	if m.center != nil {
		m.center.MustDrop()
		m.corner.MustDrop()
		m.center, m.corner = nil, nil
	}
}

// Match assigns the ground truths of one image to the priors. gtBoxes is [G,4] float32 in
// corner form (xmin, ymin, xmax, ymax) relative to the image, gtLabels [G] int64 with
// every label >= 1; both on the priors' device. It returns new tensors, owned by the
// caller: loc [P,4] float32, the regression targets, and labels [P] int64, 0 for
// background.
//
// The assignment is the reference's assign_priors:
//
//  1. IoU[p,g] between every prior (corner form) and ground truth;
//  2. every prior takes its best ground truth (max over g);
//  3. every ground truth takes its best prior (max over p) and forces it: that prior is
//     assigned this ground truth with IoU raised to 2, so it stays positive;
//  4. priors whose (possibly raised) IoU is below the threshold become background.
//
// Ties break as in the reference: a max picks the first index (lowest prior for a ground
// truth, lowest ground truth for a prior), and when several ground truths force the same
// prior the last of them (highest index) keeps it, as in the reference's loop over the
// ground truths; the others may end up with no prior at all. Here the loop is replaced by
// a [G,G] comparison that finds, for each ground truth, the last one sharing its best
// prior, so every write of the forced assignment carries the same value.
//
// Locations are the reference's convert_boxes_to_locations of the matched boxes (in
// centre form) against the priors, for every prior: background priors carry the encoding
// of their best ground truth, which the loss ignores.
//
// An image without ground truth (G = 0) gets all-background labels and zero locations
// (the reference fails on it: max over an empty dimension). Degenerate boxes make
// infinite locations: check boxes with CheckBoxes first.
func (m *Matcher) Match(gtBoxes, gtLabels *ts.Tensor) (loc, labels *ts.Tensor, err error) {
	if m.center == nil {
		return nil, nil, fmt.Errorf("target: Match on a closed Matcher")
	}
	g, err := m.checkInputs(gtBoxes, gtLabels)
	if err != nil {
		return nil, nil, err
	}
	if g == 0 {
		loc = ts.MustZeros([]int64{m.numPriors, 4}, gotch.Float, m.device)
		labels = ts.MustZeros([]int64{m.numPriors}, gotch.Int64, m.device)
		return loc, labels, nil
	}
	s := torch.NewScope()
	defer s.Close()
	ious, err := boxes.IoU(m.corner, gtBoxes) // [P,G], bit for bit the reference's matrix
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	s.T(ious)
	bestGT, bestGTIdx := ious.MustMaxDim(1, false, false) // per prior, [P]
	s.Ts(bestGT, bestGTIdx)
	bestPriorIoU, bestPrior := ious.MustMaxDim(0, false, false) // per ground truth, [G]
	s.Ts(bestPriorIoU, bestPrior)

	winner := s.T(lastSharing(s, bestPrior, g, m.device))
	assigned := s.T(bestGTIdx.MustIndexCopy(0, bestPrior, winner, false))
	iou := s.T(bestGT.MustIndexFill(0, bestPrior, s.Float(2), false))

	background := s.T(iou.MustLt(s.Float(m.threshold), false))
	picked := s.T(gtLabels.MustIndexSelect(0, assigned, false))
	labels = picked.MustMaskedFill(background, s.Int(0), false)
	s.T(labels)

	matched := s.T(gtBoxes.MustIndexSelect(0, assigned, false)) // [P,4] corner form
	center, err := boxes.CornerToCenter(matched)
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	s.T(center)
	loc, err = boxes.Encode(center, m.center, m.v)
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	s.Keep(labels)
	return loc, labels, nil
}

// lastSharing returns, for each of the g ground truths, the highest ground-truth index
// whose best prior is the same as its own ([G] int64): the one that keeps the prior in
// the reference's sequential forced assignment.
func lastSharing(s *torch.Scope, bestPrior *ts.Tensor, g int64, dev gotch.Device) *ts.Tensor {
	same := s.T(s.T(bestPrior.MustUnsqueeze(1, false)).MustEqTensor(s.T(bestPrior.MustUnsqueeze(0, false)), false))
	index := s.T(s.T(ts.MustArange(s.Int(g), gotch.Int64, dev)).MustUnsqueeze(0, false))
	candidates := s.T(s.T(same.MustTotype(gotch.Int64, false)).MustMul(index, false)) // [G,G]: g' where shared, else 0
	last, where := candidates.MustMaxDim(1, false, false)
	s.T(where)
	return last
}

// checkInputs validates the ground truth of one image and returns G.
func (m *Matcher) checkInputs(gtBoxes, gtLabels *ts.Tensor) (int64, error) {
	if gtBoxes == nil || gtLabels == nil {
		return 0, fmt.Errorf("target: nil ground-truth tensor")
	}
	bs, err := gtBoxes.Size()
	if err != nil {
		return 0, fmt.Errorf("target: ground-truth boxes: %w", err)
	}
	ls, err := gtLabels.Size()
	if err != nil {
		return 0, fmt.Errorf("target: ground-truth labels: %w", err)
	}
	if len(bs) != 2 || bs[1] != 4 {
		return 0, fmt.Errorf("target: ground-truth boxes: shape %v, want [G,4]", bs)
	}
	if len(ls) != 1 || ls[0] != bs[0] {
		return 0, fmt.Errorf("target: ground-truth labels: shape %v, want [%d] (one per box)", ls, bs[0])
	}
	if gtBoxes.DType() != gotch.Float {
		return 0, fmt.Errorf("target: ground-truth boxes: dtype %v, want float32", gtBoxes.DType())
	}
	if gtLabels.DType() != gotch.Int64 {
		return 0, fmt.Errorf("target: ground-truth labels: dtype %v, want int64", gtLabels.DType())
	}
	for _, t := range []*ts.Tensor{gtBoxes, gtLabels} {
		if d, err := t.Device(); err != nil || d != m.device {
			return 0, fmt.Errorf("target: ground truth on device %v, priors on %v", d, m.device)
		}
	}
	g := bs[0]
	if g > 0 {
		low := gtLabels.MustMin(false)
		minLabel := low.Int64Values()[0]
		low.MustDrop()
		if minLabel < 1 {
			return 0, fmt.Errorf("target: ground-truth label %d: labels must be >= 1 (0 is the background)", minLabel)
		}
	}
	return g, nil
}
