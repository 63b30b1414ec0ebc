package target

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// oracleMatch is the straightforward transcription of the reference's MatchPrior that
// Match replaced: boxes.IoU on the [P,G] matrix, a [G,G] comparison for the forced
// assignment, boxes.CornerToCenter and boxes.Encode on the gathered [P,4] boxes, each
// running the reference's operations in the reference's order and layout. Match must
// agree with it bit for bit. G must be > 0; the caller owns the results.
func oracleMatch(m *Matcher, gtBoxes, gtLabels *ts.Tensor) (loc, labels *ts.Tensor, err error) {
	s := torch.NewScope()
	defer s.Close()
	ious, err := boxes.IoU(m.corner, gtBoxes)
	if err != nil {
		return nil, nil, err
	}
	s.T(ious)
	g := ious.MustSize()[1]
	bestGT, bestGTIdx := ious.MustMaxDim(1, false, false)
	s.Ts(bestGT, bestGTIdx)
	bestPriorIoU, bestPrior := ious.MustMaxDim(0, false, false)
	s.Ts(bestPriorIoU, bestPrior)

	same := s.T(s.T(bestPrior.MustUnsqueeze(1, false)).MustEqTensor(s.T(bestPrior.MustUnsqueeze(0, false)), false))
	index := s.T(s.T(ts.MustArange(s.Int(g), gotch.Int64, gotch.CPU)).MustUnsqueeze(0, false))
	candidates := s.T(s.T(same.MustTotype(gotch.Int64, false)).MustMul(index, false))
	winner, where := candidates.MustMaxDim(1, false, false)
	s.Ts(winner, where)

	assigned := s.T(bestGTIdx.MustIndexCopy(0, bestPrior, winner, false))
	iou := s.T(bestGT.MustIndexFill(0, bestPrior, s.Float(2), false))
	background := s.T(iou.MustLt(s.Float(m.threshold), false))
	picked := s.T(gtLabels.MustIndexSelect(0, assigned, false))
	labels = s.T(picked.MustMaskedFill(background, s.Int(0), false))

	matched := s.T(gtBoxes.MustIndexSelect(0, assigned, false))
	center, err := boxes.CornerToCenter(matched)
	if err != nil {
		return nil, nil, err
	}
	s.T(center)
	loc, err = boxes.Encode(center, m.center, m.v)
	if err != nil {
		return nil, nil, err
	}
	return loc, s.Keep(labels), nil
}
