package postprocess

import (
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Sizes that bound the IoU matrices computed at once (variables so that tests can take
// every code path with small inputs).
var (
	// hardBlock is the number of candidates whose pairwise IoU matrix hard NMS computes
	// at once; a block is also compared with the boxes kept in earlier blocks.
	hardBlock = 1024
	// matrixElems bounds the entries of the IoU matrices computed at once: 256 KB of
	// float32, so that the dozen intermediates of an IoU stay in the CPU's cache (four
	// times as many entries at once take longer in all, not shorter).
	matrixElems = 1 << 16
	// softDense is the largest candidate count for which soft NMS computes the whole
	// matrix of decay factors up front; above it, it computes one row per pick.
	softDense = 2048
)

// hardGreedy runs the greedy pass of hard NMS over corner-form boxes [k, 4] (float32),
// already ordered best first: a box is kept unless an earlier kept box has an IoU with
// it that is not <= iou (compared in float32, so a NaN IoU suppresses, as in the
// reference). It stops after topK kept boxes when topK > 0 and returns the positions of
// the kept boxes, in order.
//
// The candidates go in blocks of hardBlock: a block is first compared with the boxes
// kept so far, then the greedy pass runs over its own IoU matrix.
func hardGreedy(b *ts.Tensor, k int, iou float64, topK int) ([]int, error) {
	s := torch.NewScope()
	defer s.Close()
	thr := s.Float(iou)
	var kept []int
	for start := 0; start < k; start += hardBlock {
		n := min(hardBlock, k-start)
		blk := s.T(b.MustNarrow(0, int64(start), int64(n), false))
		alive := make([]bool, n)
		for i := range alive {
			alive[i] = true
		}
		if len(kept) > 0 {
			if err := suppressByKept(s, b, blk, kept, thr, alive); err != nil {
				return nil, err
			}
		}
		le, err := iouLE(s, blk, blk, thr)
		if err != nil {
			return nil, err
		}
		var done bool
		if kept, done = greedyPass(le, n, alive, start, topK, kept); done {
			break
		}
	}
	return kept, nil
}

// hardGreedyBatch runs hardGreedy over several candidate lists at once: b [G, K, 4]
// holds list g's boxes in b[g, :counts[g]] (the rest is padding), best first. It
// computes the G IoU matrices with one set of libtorch calls, so that per-class NMS over
// many small classes costs a few dozen calls instead of a few dozen per class.
func hardGreedyBatch(b *ts.Tensor, counts []int, iou float64, topK int) ([][]int, error) {
	s := torch.NewScope()
	defer s.Close()
	k := int(b.MustSize()[1])
	le, err := boolValues(s.T(pairIoU(s, b, b).MustLe(s.Float(iou), false)))
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(counts))
	for g, n := range counts {
		alive := make([]bool, n)
		for i := range alive {
			alive[i] = true
		}
		out[g], _ = greedyPass(le[g*k*k:(g+1)*k*k], k, alive, 0, topK, nil)
	}
	return out, nil
}

// greedyPass is the greedy pass over the candidates marked in alive (best first), with
// le[i*stride+j] telling whether IoU(i, j) <= the threshold: each candidate still alive
// is kept (appended to kept as offset+i) and clears the later candidates it overlaps. It
// reports done when kept reaches topK (> 0).
func greedyPass(le []bool, stride int, alive []bool, offset, topK int, kept []int) ([]int, bool) {
	n := len(alive)
	for i := 0; i < n; i++ {
		if !alive[i] {
			continue
		}
		kept = append(kept, offset+i)
		if topK > 0 && len(kept) == topK {
			return kept, true
		}
		row := le[i*stride : i*stride+n]
		for j := i + 1; j < n; j++ {
			if !row[j] {
				alive[j] = false
			}
		}
	}
	return kept, false
}

// suppressByKept clears alive[j] for each box j of blk that a box of b at a kept
// position overlaps by more than thr.
func suppressByKept(s *torch.Scope, b, blk *ts.Tensor, kept []int, thr *ts.Scalar, alive []bool) error {
	idx := make([]int64, len(kept))
	for i, p := range kept {
		idx[i] = int64(p)
	}
	it := s.T(int64Tensor(idx))
	kb := s.T(b.MustIndexSelect(0, it, false))
	for start := 0; start < len(kept); {
		m := max(1, min(len(kept)-start, matrixElems/len(alive)))
		part := s.T(kb.MustNarrow(0, int64(start), int64(m), false))
		iou := pairIoU(s, part, blk)
		ok := s.T(s.T(iou.MustLe(thr, false)).MustAllDim(0, false, false))
		v, err := boolValues(ok)
		if err != nil {
			return err
		}
		for j, keep := range v {
			if !keep {
				alive[j] = false
			}
		}
		start += m
	}
	return nil
}

// iouLE returns, row-major, whether IoU(a[i], b[j]) <= thr for corner-form boxes a [n, 4]
// and b [m, 4], computing the matrix in row blocks.
func iouLE(s *torch.Scope, a, b *ts.Tensor, thr *ts.Scalar) ([]bool, error) {
	n, m := int(a.MustSize()[0]), int(b.MustSize()[0])
	out := make([]bool, 0, n*m)
	for start := 0; start < n; {
		r := max(1, min(n-start, matrixElems/max(1, m)))
		part := s.T(a.MustNarrow(0, int64(start), int64(r), false))
		iou := pairIoU(s, part, b)
		v, err := boolValues(s.T(iou.MustLe(thr, false)))
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
		start += r
	}
	return out, nil
}

// softGreedy runs the Gaussian soft NMS of the reference over corner-form boxes b [n, 4]
// (float32) with scores (modified in place): repeatedly pick the first box of highest
// score, then multiply the score of every remaining box by exp(-IoU²/sigma) with the
// pick, and drop those whose score is no longer > thr; the pick's place in the list is
// taken by the last box, as in the reference, which decides among equal scores. It
// stops after topK picks when topK > 0, and returns the picked positions with their
// scores at the time of the pick.
func softGreedy(b *ts.Tensor, scores []float32, sigma, thr float64, topK int) ([]int, []float32, error) {
	n := len(scores)
	if n == 0 {
		return nil, nil, nil
	}
	rows, err := newDecayRows(b, n, sigma)
	if err != nil {
		return nil, nil, err
	}
	defer rows.close()
	thr32 := float32(thr)
	live := make([]int, n) // positions in b of the remaining boxes, in the reference's order
	for i := range live {
		live[i] = i
	}
	var picked []int
	var pickedScores []float32
	for len(live) > 0 {
		m := 0
		for j := 1; j < len(live); j++ {
			if scores[live[j]] > scores[live[m]] {
				m = j
			}
		}
		cur := live[m]
		picked = append(picked, cur)
		pickedScores = append(pickedScores, scores[cur])
		if (topK > 0 && len(picked) == topK) || len(live) == 1 {
			break
		}
		last := len(live) - 1
		live[m] = live[last]
		live = live[:last]
		decay, err := rows.row(cur)
		if err != nil {
			return nil, nil, err
		}
		kept := live[:0]
		for _, j := range live {
			scores[j] *= decay[j]
			if scores[j] > thr32 {
				kept = append(kept, j)
			}
		}
		live = kept
	}
	return picked, pickedScores, nil
}

// decayRows gives the soft-NMS decay factors exp(-IoU²/sigma) of one box against all
// boxes, from a matrix computed up front for small n and row by row otherwise.
type decayRows struct {
	s     *torch.Scope
	b     *ts.Tensor
	n     int
	sigma *ts.Scalar
	dense []float32 // n×n when computed up front
}

func newDecayRows(b *ts.Tensor, n int, sigma float64) (*decayRows, error) {
	s := torch.NewScope()
	d := &decayRows{s: s, b: b, n: n, sigma: s.Float(sigma)}
	if n > softDense {
		return d, nil
	}
	d.dense = make([]float32, 0, n*n)
	for start := 0; start < n; {
		r := max(1, min(n-start, matrixElems/n))
		v, err := d.compute(start, r)
		if err != nil {
			d.close()
			return nil, err
		}
		d.dense = append(d.dense, v...)
		start += r
	}
	return d, nil
}

// row returns the decay factors of box i against every box (valid until the next call).
func (d *decayRows) row(i int) ([]float32, error) {
	if d.dense != nil {
		return d.dense[i*d.n : (i+1)*d.n], nil
	}
	return d.compute(i, 1)
}

// compute returns the decay factors of boxes start..start+r-1 against every box,
// row-major, with the reference's operations: exp(-(iou*iou)/sigma).
func (d *decayRows) compute(start, r int) ([]float32, error) {
	s := torch.NewScope()
	defer s.Close()
	part := s.T(d.b.MustNarrow(0, int64(start), int64(r), false))
	iou := pairIoU(s, part, d.b)
	sq := s.T(iou.MustMul(iou, false))
	e := s.T(s.T(s.T(sq.MustNeg(false)).MustDivScalar(d.sigma, false)).MustExp(false))
	return float32Values(e)
}

func (d *decayRows) close() { d.s.Close() }
