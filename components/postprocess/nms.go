package postprocess

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// NMS is the reference's hard_nms: it orders the boxes by score, best first, keeps the
// candidateSize best (all when candidateSize <= 0), and then greedily keeps each box
// whose IoU with every box kept before it is <= iou, stopping after topK kept boxes
// when topK > 0.
//
// boxes are corner-form [N, 4] and scores [N], both float32. It returns the indices
// (into boxes) of the kept boxes, int64 [K], best first; the caller owns the tensor.
// Equal scores are ordered as libtorch's (unstable) sort orders them, which is the order
// the reference gets from the same scores: input order for N <= 16 (libstdc++ sorts so
// few by insertion), otherwise an order that depends on all the values.
func NMS(boxes, scores *ts.Tensor, iou float64, topK, candidateSize int) (keep *ts.Tensor, err error) {
	defer torch.Recover(&err)
	n, err := checkPairs("NMS", boxes, scores)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(iou) {
		return nil, fmt.Errorf("postprocess: NMS: iou threshold is NaN")
	}
	s := torch.NewScope()
	defer s.Close()
	if n == 0 {
		return int64Tensor(nil), nil
	}
	sorted, order := scores.MustSort(0, true, false)
	s.Ts(sorted, order)
	if candidateSize > 0 && candidateSize < n {
		order = s.T(order.MustNarrow(0, 0, int64(candidateSize), false))
	}
	k := int(order.MustSize()[0])
	cand := s.T(boxes.MustIndexSelect(0, order, false))
	kept, err := hardGreedy(cand, k, iou, topK)
	if err != nil {
		return nil, err
	}
	idx, err := int64Values(order)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(kept))
	for i, p := range kept {
		out[i] = idx[p]
	}
	return int64Tensor(out), nil
}

// SoftNMS is the reference's soft_nms (Gaussian): it repeatedly picks the box of highest
// score (the first one among equal scores), multiplies the score of every other
// remaining box by exp(-IoU²/sigma) with it, and drops the boxes whose score is no
// longer > scoreThreshold, stopping after topK picks when topK > 0. As in the
// reference, the scores are not filtered before the first pick, and a picked box's
// place is taken by the last remaining box, which decides among later equal scores.
//
// boxes are corner-form [N, 4] and scores [N], both float32. It returns the indices of
// the picked boxes, int64 [K], in the order picked, and their scores at the time of the
// pick, float32 [K]; the caller owns both. The inputs are not modified.
func SoftNMS(boxes, scores *ts.Tensor, sigma, scoreThreshold float64, topK int) (keep, newScores *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if _, err := checkPairs("SoftNMS", boxes, scores); err != nil {
		return nil, nil, err
	}
	if !(sigma > 0) || math.IsInf(sigma, 1) {
		return nil, nil, fmt.Errorf("postprocess: SoftNMS: sigma must be a positive number, got %g", sigma)
	}
	if math.IsNaN(scoreThreshold) {
		return nil, nil, fmt.Errorf("postprocess: SoftNMS: score threshold is NaN")
	}
	sc, err := float32Values(scores)
	if err != nil {
		return nil, nil, err
	}
	picked, pickedScores, err := softGreedy(boxes, sc, sigma, scoreThreshold, topK)
	if err != nil {
		return nil, nil, err
	}
	idx := make([]int64, len(picked))
	for i, p := range picked {
		idx[i] = int64(p)
	}
	return int64Tensor(idx), float32Tensor(pickedScores), nil
}

// checkPairs validates the inputs of NMS and SoftNMS and returns N.
func checkPairs(fn string, boxes, scores *ts.Tensor) (int, error) {
	if boxes == nil || scores == nil {
		return 0, fmt.Errorf("postprocess: %s: nil tensor", fn)
	}
	bs, err := boxes.Size()
	if err != nil {
		return 0, fmt.Errorf("postprocess: %s: boxes: %w", fn, err)
	}
	ss, err := scores.Size()
	if err != nil {
		return 0, fmt.Errorf("postprocess: %s: scores: %w", fn, err)
	}
	if len(bs) != 2 || bs[1] != 4 {
		return 0, fmt.Errorf("postprocess: %s: boxes have shape %v, want [N, 4]", fn, bs)
	}
	if len(ss) != 1 || ss[0] != bs[0] {
		return 0, fmt.Errorf("postprocess: %s: scores have shape %v, want [%d] to match boxes %v", fn, ss, bs[0], bs)
	}
	if err := checkFloat(fn+": boxes", boxes); err != nil {
		return 0, err
	}
	if err := checkFloat(fn+": scores", scores); err != nil {
		return 0, err
	}
	if err := checkCPU(fn+": boxes", boxes); err != nil {
		return 0, err
	}
	if err := checkCPU(fn+": scores", scores); err != nil {
		return 0, err
	}
	if bad, err := countNaN(scores); err != nil || bad > 0 {
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("postprocess: %s: %d of the %d scores are NaN", fn, bad, bs[0])
	}
	return int(bs[0]), nil
}

func checkFloat(what string, t *ts.Tensor) error {
	if dt := t.DType(); dt != gotch.Float {
		return fmt.Errorf("postprocess: %s: dtype %v, want float32", what, dt)
	}
	return nil
}

func checkCPU(what string, t *ts.Tensor) error {
	d, err := t.Device()
	if err != nil {
		return fmt.Errorf("postprocess: %s: %w", what, err)
	}
	if d.Name != gotch.CPU.Name {
		return fmt.Errorf("postprocess: %s: on %v, want the CPU", what, d)
	}
	return nil
}

// countNaN returns the number of NaN values of t.
func countNaN(t *ts.Tensor) (int64, error) {
	s := torch.NewScope()
	defer s.Close()
	nan := s.T(t.MustIsnan(false))
	v, err := int64Values(s.T(nan.MustSum(gotch.Int64, false)))
	if err != nil {
		return 0, err
	}
	return v[0], nil
}
