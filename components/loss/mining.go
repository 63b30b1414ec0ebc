package loss

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// HardNegativeMining selects, per image, the priors that enter the classification loss:
// every positive (label > 0) and the negatives with the highest background loss, as many
// as negPosRatio times the image's positives (rounded up). loss [B,P] is the background
// loss of each prior (-log softmax(conf)[...,0]); labels [B,P] int64. It returns a new
// [B,P] bool mask owned by the caller; no gradient flows through it.
//
// This is the reference's hard_negative_mining: positives' losses are set to -inf, the
// priors are sorted by loss in descending order with libtorch's sort (the same kernel, so
// equal losses are ranked the same way as in the reference), and negatives whose rank is
// below negPosRatio × positives are kept. An image without positives therefore keeps no
// negative either. The ranks are the inverse of the sort permutation, computed with a
// scatter instead of the reference's second sort (the same values, since a permutation
// has exactly one inverse).
func HardNegativeMining(loss, labels *ts.Tensor, negPosRatio float64) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	if err := checkMining(loss, labels, negPosRatio); err != nil {
		return nil, err
	}
	s := torch.NewScope()
	defer s.Close()
	size := loss.MustSize()
	dev := loss.MustDevice()
	pos := s.T(labels.MustGt(s.Int(0), false))
	numPos := s.T(pos.MustSumDimIntlist([]int64{1}, true, gotch.Int64, false)) // [B,1]
	numNeg := s.T(torch.MulScalar(s.T(numPos.MustTotype(gotch.Double, false)), negPosRatio))

	detached := s.T(loss.MustDetach(false))
	ranked := s.T(detached.MustMaskedFill(pos, s.Float(math.Inf(-1)), false))
	sorted, order := ranked.MustSort(1, true, false)
	s.Ts(sorted, order)
	positions := s.T(ts.MustArange(s.Int(size[1]), gotch.Int64, dev))
	positions = s.T(s.T(positions.MustUnsqueeze(0, false)).MustExpand(size, true, false))
	rank := s.T(s.T(order.MustZerosLike(false)).MustScatter(1, order, positions, false))
	neg := s.T(rank.MustLtTensor(numNeg, false))
	return pos.MustLogicalOr(neg, false), nil
}

func checkMining(loss, labels *ts.Tensor, negPosRatio float64) error {
	if loss == nil || labels == nil {
		return fmt.Errorf("loss: hard negative mining: nil tensor")
	}
	if !(negPosRatio >= 0) || math.IsInf(negPosRatio, 0) {
		return fmt.Errorf("loss: neg_pos_ratio must be finite and >= 0, got %g", negPosRatio)
	}
	ls, err := loss.Size()
	if err != nil {
		return fmt.Errorf("loss: hard negative mining: %w", err)
	}
	if len(ls) != 2 {
		return fmt.Errorf("loss: hard negative mining: background loss shape %v, want [B,P]", ls)
	}
	if dt := loss.DType(); dt != gotch.Float && dt != gotch.Double {
		return fmt.Errorf("loss: hard negative mining: background loss dtype %v, want float32 or float64", dt)
	}
	return checkLabels(labels, ls[0], ls[1], loss.MustDevice())
}

// checkLabels checks that labels is [b,p] int64 on dev.
func checkLabels(labels *ts.Tensor, b, p int64, dev gotch.Device) error {
	size, err := labels.Size()
	if err != nil {
		return fmt.Errorf("loss: labels: %w", err)
	}
	if len(size) != 2 || size[0] != b || size[1] != p {
		return fmt.Errorf("loss: labels: shape %v, want [%d %d]", size, b, p)
	}
	if labels.DType() != gotch.Int64 {
		return fmt.Errorf("loss: labels: dtype %v, want int64", labels.DType())
	}
	if d, err := labels.Device(); err != nil || d != dev {
		return fmt.Errorf("loss: labels on device %v, predictions on %v", d, dev)
	}
	return nil
}
