package postprocess

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// candidate is a class probability that passed the score threshold.
type candidate struct {
	prior int64   // index of the prior (and of its decoded box)
	score float32 // the probability
	label int     // the class
}

// selection holds the candidates of one image: the probabilities > the score threshold
// of classes 1..C-1, class by class, in prior order within a class (the reference's
// per-class probs[mask]).
type selection struct {
	byClass *ts.Tensor // [C-1, P] probabilities of classes 1..C-1 (a view of probs)
	mask    *ts.Tensor // [C-1, P] bool: byClass > the score threshold
	vals    *ts.Tensor // [M] float32: byClass[mask]
	scores  []float32  // vals in Go
	prior   []int64    // [M] prior index of each candidate
	label   []int      // [M] class of each candidate
	start   []int      // start[c-1]: position of class c's first candidate; start[C-1] = M
}

// class returns the position of class c's first candidate and its number of candidates.
func (sel *selection) class(c int) (start, n int) {
	return sel.start[c-1], sel.start[c] - sel.start[c-1]
}

// candidate returns the candidate at position p.
func (sel *selection) candidate(p int) candidate {
	return candidate{prior: sel.prior[p], score: sel.scores[p], label: sel.label[p]}
}

// candidates returns the n candidates from position start on, in selection order.
func (sel *selection) candidates(start, n int) []candidate {
	out := make([]candidate, n)
	for k := range out {
		out[k] = sel.candidate(start + k)
	}
	return out
}

// selectCandidates finds the probabilities of probs [P, C] above thr for classes >= 1.
func selectCandidates(s *torch.Scope, probs *ts.Tensor, thr float64) (*selection, error) {
	c := probs.MustSize()[1]
	// [C-1, P] view: nonzero and masked_select walk it class by class.
	byClass := s.T(s.T(probs.MustNarrow(1, 1, c-1, false)).MustTranspose(0, 1, false))
	mask := s.T(byClass.MustGt(s.Float(thr), false))
	counts, err := int64Values(s.T(mask.MustSumDimIntlist([]int64{1}, false, gotch.Int64, false)))
	if err != nil {
		return nil, err
	}
	sel := &selection{byClass: byClass, mask: mask, vals: s.T(byClass.MustMaskedSelect(mask, false)), start: make([]int, c)}
	nz := s.T(mask.MustNonzero(false))
	if sel.prior, err = int64Values(s.T(nz.MustSelect(1, 1, false))); err != nil {
		return nil, err
	}
	if sel.scores, err = float32Values(sel.vals); err != nil {
		return nil, err
	}
	sel.label = make([]int, 0, len(sel.scores))
	for k, n := range counts {
		sel.start[k+1] = sel.start[k] + int(n)
		for range n {
			sel.label = append(sel.label, k+1)
		}
	}
	if len(sel.prior) != len(sel.scores) || sel.start[c-1] != len(sel.scores) {
		return nil, fmt.Errorf("selection of %d candidates: inconsistent counts", len(sel.scores))
	}
	return sel, nil
}

// rankAll returns, for each class 1..C-1, its candidates best first, cut to
// CandidateSize: the order that the reference's scores.sort(descending=True) gives them.
//
// One topk over the [C-1, P] matrix of thresholded probabilities ranks every class at
// once. Where a class's ranked scores are all distinct, any correct sort orders them the
// same way; a class with equal scores among its candidates (or at the cut) is ranked
// again by ranked, with libtorch's sort on exactly the reference's sequence of values,
// which decides the order of the equal ones as the reference's sort does.
func (r *imageRun) rankAll() ([][]candidate, error) {
	sel, s := r.sel, r.s
	classes := len(sel.start) - 1
	out := make([][]candidate, classes)
	most := 0
	for c := 1; c <= classes; c++ {
		_, n := sel.class(c)
		most = max(most, n)
	}
	if most == 0 {
		return out, nil
	}
	// Take one more than the cut, to see equal scores on both sides of it.
	k := most
	if cs := r.cfg.CandidateSize; cs > 0 && cs < most {
		k = cs + 1
	}
	below := s.T(sel.mask.MustLogicalNot(false))
	masked := s.T(sel.byClass.MustMaskedFill(below, s.Float(-1), false))
	vals, idx := masked.MustTopk(int64(k), 1, true, true, false)
	s.Ts(vals, idx)
	v, err := float32Values(vals)
	if err != nil {
		return nil, err
	}
	p, err := int64Values(idx)
	if err != nil {
		return nil, err
	}
	for c := 1; c <= classes; c++ {
		start, n := sel.class(c)
		if n == 0 {
			continue
		}
		m := n
		if cs := r.cfg.CandidateSize; cs > 0 && cs < n {
			m = cs
		}
		row, prow := v[(c-1)*k:c*k], p[(c-1)*k:c*k]
		if hasTies(row[:min(n, m+1)]) {
			if out[c-1], err = r.ranked(start, n); err != nil {
				return nil, fmt.Errorf("class %d: %w", c, err)
			}
			continue
		}
		cs := make([]candidate, m)
		for j := range cs {
			cs[j] = candidate{prior: prow[j], score: row[j], label: c}
		}
		out[c-1] = cs
	}
	return out, nil
}

// hasTies reports whether sorted values (descending) hold two equal ones.
func hasTies(sorted []float32) bool {
	for j := 1; j < len(sorted); j++ {
		if sorted[j] == sorted[j-1] {
			return true
		}
	}
	return false
}

// ranked returns the n candidates of a class starting at start, ordered by libtorch's
// descending sort of their scores (the reference's scores.sort(descending=True) on the
// same values in the same order), and cut to CandidateSize.
func (r *imageRun) ranked(start, n int) ([]candidate, error) {
	seg := r.s.T(r.sel.vals.MustNarrow(0, int64(start), int64(n), false))
	vals, order := seg.MustSort(0, true, false)
	r.s.Ts(vals, order)
	if k := r.cfg.CandidateSize; k > 0 && k < n {
		order = r.s.T(order.MustNarrow(0, 0, int64(k), false))
	}
	o, err := int64Values(order)
	if err != nil {
		return nil, err
	}
	out := make([]candidate, len(o))
	for k, j := range o {
		out[k] = r.sel.candidate(start + int(j))
	}
	return out, nil
}
