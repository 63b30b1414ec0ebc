// Package target turns an image's ground-truth boxes into SSD training targets: every
// prior gets a class label (0 for background) and the regression target that locates its
// matched ground-truth box relative to it.
//
// Matching reproduces the PyTorch SSD project's assign_priors and MatchPrior bit for bit,
// tie-breaking included (see Matcher.Match), with whole-tensor libtorch operations over
// the priors; the handful of per-box values of an image are computed in Go.
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
// priors, in centre and corner form, and the per-prior tensors that Match reads, laid out
// once for its [G,P] IoU matrix and its encoding; Close frees them. A Matcher is safe for
// concurrent use by several goroutines (e.g. data-loading workers): Match only reads it.
type Matcher struct {
	center    *ts.Tensor // [P,4] centre form, float32
	corner    *ts.Tensor // [P,4] corner form, float32, as the reference computes it
	lt, rb    *ts.Tensor // [2,1,P] contiguous: (xmin, ymin) and (xmax, ymax) of corner, coordinate-major
	area      *ts.Tensor // [1,P]: boxes.Area of corner
	xy, wh    *ts.Tensor // [P,2] contiguous: (cx, cy) and (w, h) of center
	scalars   matchScalars
	threshold float64
	v         boxes.Variances
	numPriors int64
	device    gotch.Device
}

// matchScalars are the op arguments of Match, created once (gotch's scalars live in C
// memory); ops only read them.
type matchScalars struct {
	zero, two, eps, threshold, center, size, background *ts.Scalar
}

func newMatchScalars(threshold float64, v boxes.Variances) matchScalars {
	return matchScalars{
		zero:       ts.FloatScalar(0),
		two:        ts.FloatScalar(2),
		eps:        ts.FloatScalar(boxes.DefaultEps),
		threshold:  ts.FloatScalar(threshold),
		center:     ts.FloatScalar(v.Center),
		size:       ts.FloatScalar(v.Size),
		background: ts.IntScalar(0),
	}
}

func (c matchScalars) drop() {
	for _, x := range []*ts.Scalar{c.zero, c.two, c.eps, c.threshold, c.center, c.size, c.background} {
		x.MustDrop()
	}
}

// NewMatcher copies priors ([P,4] float32, centre form (cx, cy, w, h) relative to the
// image) and returns a Matcher that labels a prior positive when its IoU with a ground
// truth reaches iouThreshold (0 < iouThreshold <= 1; the reference trains with 0.5), and
// encodes locations with the variances v. Priors must have finite coordinates and
// positive widths and heights.
func NewMatcher(priors *ts.Tensor, iouThreshold float64, v boxes.Variances) (_ *Matcher, err error) {
	defer torch.Recover(&err)
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
	s := torch.NewScope()
	defer s.Close()
	detached := s.T(priors.MustDetach(false))
	center := s.T(ts.MustCat([]ts.Tensor{*detached}, 0)) // a copy: the caller may free or change priors
	corner, err := boxes.CenterToCorner(center)
	if err != nil {
		return nil, fmt.Errorf("target: priors: %w", err)
	}
	s.T(corner)
	area, err := boxes.Area(corner) // [P], the reference's area_of, computed once
	if err != nil {
		return nil, fmt.Errorf("target: priors: %w", err)
	}
	s.T(area)
	cornerT := s.T(corner.MustT(false)) // [4,P]
	rows := func(t *ts.Tensor, start int64) *ts.Tensor {
		return s.T(s.T(s.T(t.MustNarrow(0, start, 2, false)).MustUnsqueeze(1, false)).MustContiguous(false))
	}
	cols := func(start int64) *ts.Tensor {
		return s.T(s.T(center.MustNarrow(1, start, 2, false)).MustContiguous(false))
	}
	m := &Matcher{
		center:    center,
		corner:    corner,
		lt:        rows(cornerT, 0),
		rb:        rows(cornerT, 2),
		area:      s.T(area.MustUnsqueeze(0, false)),
		xy:        cols(0),
		wh:        cols(2),
		scalars:   newMatchScalars(iouThreshold, v),
		threshold: iouThreshold,
		v:         v,
		numPriors: center.MustSize()[0],
		device:    dev,
	}
	for _, t := range m.tensors() {
		s.Keep(t)
	}
	return m, nil
}

// tensors lists the tensors the matcher owns.
func (m *Matcher) tensors() []*ts.Tensor {
	return []*ts.Tensor{m.center, m.corner, m.lt, m.rb, m.area, m.xy, m.wh}
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

// IoUThreshold returns the IoU above which a prior is matched to a box.
func (m *Matcher) IoUThreshold() float64 { return m.threshold }

// Close frees the matcher's tensors. The matcher must not be used afterwards.
func (m *Matcher) Close() {
	if m.center == nil {
		return
	}
	for _, t := range m.tensors() {
		t.MustDrop()
	}
	m.scalars.drop()
	m.center, m.corner, m.lt, m.rb, m.area, m.xy, m.wh = nil, nil, nil, nil, nil, nil, nil
	m.scalars = matchScalars{}
}

// Match assigns the ground truths of one image to the priors. gtBoxes is [G,4] float32 in
// corner form (xmin, ymin, xmax, ymax) relative to the image, gtLabels [G] int64 with
// every label >= 1; both on the priors' device. It returns new tensors, owned by the
// caller: loc [P,4] float32, the regression targets, and labels [P] int64, 0 for
// background.
//
// The assignment is the reference's assign_priors:
//
//  1. IoU between every prior (corner form) and ground truth;
//  2. every prior takes its best ground truth (max over the ground truths);
//  3. every ground truth takes its best prior (max over the priors) and forces it: that
//     prior is assigned this ground truth with IoU raised to 2, so it stays positive;
//  4. priors whose (possibly raised) IoU is below the threshold become background.
//
// Ties break as in the reference: a max picks the first index (lowest prior for a ground
// truth, lowest ground truth for a prior), and when several ground truths force the same
// prior the last of them (highest index) keeps it, as in the reference's loop over the
// ground truths; the others may end up with no prior at all.
//
// Locations are the reference's convert_boxes_to_locations of the matched boxes (in
// centre form) against the priors, for every prior: background priors carry the encoding
// of their best ground truth, which the loss ignores.
//
// Results equal the reference's bit for bit (NaN payloads aside): every value goes
// through the same float32 operations as there (IEEE-rounded, so the layout does not
// change them), and the logarithm, whose vectorised and scalar kernels may differ in the
// last bit, runs on a contiguous [P,2] tensor as in the reference. How it is fast: the
// IoU matrix is built [G,P] (priors along the contiguous dimension, so the broadcast
// maximum and minimum vectorise) from per-prior tensors prepared by NewMatcher; the
// per-box work on the G ground truths (their areas and centre form, the forced
// assignment) runs in Go on values read once; the [P]-sized ops run in place where the
// reference allocates.
//
// An image without ground truth (G = 0) gets all-background labels and zero locations
// (the reference fails on it: max over an empty dimension). Degenerate boxes make
// infinite locations: check boxes with CheckBoxes first.
func (m *Matcher) Match(gtBoxes, gtLabels *ts.Tensor) (loc, labels *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if m.center == nil {
		return nil, nil, fmt.Errorf("target: Match on a closed Matcher")
	}
	coords, g, err := m.checkInputs(gtBoxes, gtLabels)
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
	gt, err := m.prepare(s, coords, g)
	if err != nil {
		return nil, nil, err
	}
	iou, err := m.iou(s, gt) // [G,P]
	if err != nil {
		return nil, nil, err
	}
	bestGT, assigned := iou.MustMaxDim(0, false, false) // per prior, [P]
	s.Ts(bestGT, assigned)
	bestPriorIoU, bestPrior := iou.MustMaxDim(1, false, false) // per ground truth, [G]
	s.Ts(bestPriorIoU, bestPrior)
	if err := m.force(s, bestGT, assigned, bestPrior, g); err != nil {
		return nil, nil, err
	}
	if labels, err = m.labels(s, gtLabels, bestGT, assigned); err != nil {
		return nil, nil, err
	}
	if loc, err = m.encode(s, gt, assigned); err != nil {
		return nil, nil, err
	}
	s.Keep(labels)
	return loc, labels, nil
}
