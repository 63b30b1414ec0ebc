package postprocess

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// imageRun is the NMS of one image; the tensors belong to s (detectImage's scope).
type imageRun struct {
	s      *torch.Scope
	sel    *selection
	corner *ts.Tensor // [P, 4]
	coords []float32  // corner in Go
	cfg    Config
}

// perClass runs one NMS per class, classes in ascending order (the reference's loop):
// hard NMS over each class's ranked candidates, soft NMS over each class's candidates in
// prior order (the order in which the reference hands them to soft_nms).
func (r *imageRun) perClass() (Detections, error) {
	var d Detections
	if r.cfg.Method == Hard {
		ranked, err := r.rankAll()
		if err != nil {
			return Detections{}, err
		}
		return d, r.hardPerClass(ranked, &d)
	}
	for c := 1; c < len(r.sel.start); c++ {
		start, n := r.sel.class(c)
		if n == 0 {
			continue
		}
		if err := r.soft(r.sel.candidates(start, n), &d); err != nil {
			return Detections{}, fmt.Errorf("class %d: %w", c, err)
		}
	}
	return d, nil
}

// agnostic runs one NMS over the ranked candidates of all classes, taken class by class:
// soft NMS in that order, hard NMS after a descending sort of their scores.
func (r *imageRun) agnostic() (Detections, error) {
	ranked, err := r.rankAll()
	if err != nil {
		return Detections{}, err
	}
	var union []candidate
	for _, cs := range ranked {
		union = append(union, cs...)
	}
	var d Detections
	if len(union) == 0 {
		return d, nil
	}
	if r.cfg.Method == Soft {
		return d, r.soft(union, &d)
	}
	scores := make([]float32, len(union))
	for k, c := range union {
		scores[k] = c.score
	}
	st := r.s.T(float32Tensor(scores))
	vals, order := st.MustSort(0, true, false)
	r.s.Ts(vals, order)
	o, err := int64Values(order)
	if err != nil {
		return Detections{}, err
	}
	sorted := make([]candidate, len(o))
	for k, j := range o {
		sorted[k] = union[j]
	}
	kept, err := hardGreedy(r.boxesOf(sorted), len(sorted), r.cfg.IoUThreshold, r.cfg.TopK)
	if err != nil {
		return Detections{}, err
	}
	r.addKept(&d, sorted, kept)
	return d, nil
}

// hardPerClass runs hard NMS over each class's ranked candidates and adds the kept
// ones, class by class. Classes go through hardGreedyBatch together, in groups of
// similar candidate counts (to pad little) whose IoU matrices fit matrixElems; a class
// too large for that goes alone through hardGreedy.
func (r *imageRun) hardPerClass(ranked [][]candidate, d *Detections) error {
	var order []int // classes with candidates, fewest first
	for c, cs := range ranked {
		if len(cs) > 0 {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(ranked[a]) - len(ranked[b]) })
	kept := make([][]int, len(ranked))
	for i := 0; i < len(order); {
		if n := len(ranked[order[i]]); n*n > matrixElems {
			// This class and the larger ones that follow: one at a time, in blocks.
			k, err := hardGreedy(r.boxesOf(ranked[order[i]]), n, r.cfg.IoUThreshold, r.cfg.TopK)
			if err != nil {
				return fmt.Errorf("class %d: %w", order[i]+1, err)
			}
			kept[order[i]] = k
			i++
			continue
		}
		// Extend the group while the padded matrices (of the largest class, the last
		// one) fit.
		end := i + 1
		for end < len(order) {
			k := len(ranked[order[end]])
			if (end+1-i)*k*k > matrixElems {
				break
			}
			end++
		}
		group := make([][]candidate, end-i)
		for g, c := range order[i:end] {
			group[g] = ranked[c]
		}
		ks, err := r.hardGroup(group)
		if err != nil {
			return err
		}
		for g, c := range order[i:end] {
			kept[c] = ks[g]
		}
		i = end
	}
	for c, ks := range kept {
		r.addKept(d, ranked[c], ks)
	}
	return nil
}

// hardGroup runs hardGreedyBatch over the candidate lists of several classes, padded to
// the longest, and returns the kept positions of each list.
func (r *imageRun) hardGroup(group [][]candidate) ([][]int, error) {
	k := 0
	for _, cs := range group {
		k = max(k, len(cs))
	}
	idx := make([]int64, len(group)*k)
	counts := make([]int, len(group))
	for g, cs := range group {
		for j, c := range cs {
			idx[g*k+j] = c.prior
		}
		counts[g] = len(cs)
	}
	it := r.s.T(int64Tensor(idx))
	flat := r.s.T(r.corner.MustIndexSelect(0, it, false))
	b := r.s.T(flat.MustView([]int64{int64(len(group)), int64(k), 4}, false))
	return hardGreedyBatch(b, counts, r.cfg.IoUThreshold, r.cfg.TopK)
}

// addKept adds the candidates at the kept positions.
func (r *imageRun) addKept(d *Detections, cands []candidate, kept []int) {
	for _, k := range kept {
		r.add(d, cands[k], cands[k].score)
	}
}

// soft runs soft NMS over cands (in that order) and adds the picks.
func (r *imageRun) soft(cands []candidate, d *Detections) error {
	scores := make([]float32, len(cands))
	for k, c := range cands {
		scores[k] = c.score
	}
	picked, pickedScores, err := softGreedy(r.boxesOf(cands), scores, r.cfg.Sigma, r.cfg.ScoreThreshold, r.cfg.TopK)
	if err != nil {
		return err
	}
	for k, j := range picked {
		r.add(d, cands[j], pickedScores[k])
	}
	return nil
}

// boxesOf returns the corner-form boxes [len(cands), 4] of cands.
func (r *imageRun) boxesOf(cands []candidate) *ts.Tensor {
	idx := make([]int64, len(cands))
	for k, c := range cands {
		idx[k] = c.prior
	}
	it := r.s.T(int64Tensor(idx))
	return r.s.T(r.corner.MustIndexSelect(0, it, false))
}

// add adds candidate c to d, with the given score.
func (r *imageRun) add(d *Detections, c candidate, score float32) {
	q := 4 * c.prior
	d.add([4]float32(r.coords[q:q+4]), score, c.label)
}
