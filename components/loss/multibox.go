package loss

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// MultiboxConfig configures the "multibox" loss.
type MultiboxConfig struct {
	NegPosRatio float64 `hcl:"neg_pos_ratio,optional" doc:"negatives kept per positive prior by hard negative mining, per image (default 3, as the reference)"`
	MatchIoU    float64 `hcl:"match_iou,optional" doc:"IoU with a ground-truth box above which a prior is a positive of it, in (0, 1]; every box also keeps its best prior (default 0.5, as the reference's train_ssd.py; lower gives each box more positives)"`
	// LabelSmoothing is torch's CrossEntropyLoss label_smoothing.
	LabelSmoothing float64 `hcl:"label_smoothing,optional" doc:"label smoothing of the classification cross-entropy, in [0, 1): the target is (1 - e) on the true class plus e spread evenly over all classes, background included (torch's label_smoothing; default 0, the reference's plain cross-entropy)"`
}

// DefaultMatchIoU is the reference's matching threshold (train_ssd.py's MatchPrior(...,
// 0.5)), the default of match_iou.
const DefaultMatchIoU = 0.5

// Validate checks the options.
func (c *MultiboxConfig) Validate() error {
	if !(c.NegPosRatio >= 0) || math.IsInf(c.NegPosRatio, 0) {
		return fmt.Errorf("neg_pos_ratio must be finite and >= 0, got %g", c.NegPosRatio)
	}
	if !(c.MatchIoU > 0 && c.MatchIoU <= 1) {
		return fmt.Errorf("match_iou must be in (0, 1], got %g", c.MatchIoU)
	}
	if !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1) {
		return fmt.Errorf("label_smoothing must be in [0, 1), got %g", c.LabelSmoothing)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "multibox",
		Summary: "SSD MultiBox loss: smooth L1 on positives + cross-entropy with hard negative mining (the reference's MultiboxLoss)",
		Config:  func() any { return &MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU} },
	}, func(cfg any) (Loss, error) {
		return NewMultibox(*registry.As[MultiboxConfig](cfg))
	})
}

// Multibox is the SSD MultiBox loss, the reference's MultiboxLoss:
//
//   - classification: cross-entropy summed over the priors that HardNegativeMining keeps
//     (ranked by the background loss -log softmax(conf)[...,0], computed without
//     gradient);
//   - regression: smooth L1 (beta 1) between predicted and target locations, summed over
//     the positive priors;
//
// both divided by the number of positive priors in the batch. With label_smoothing e (not
// the reference's), each kept prior's cross-entropy is torch's smoothed one: (1 - e) times
// -log p(label) plus e times the mean of -log p over all classes.
//
// Deviation: a batch without any positive prior gives 0 for both losses (and zero
// gradients) instead of the reference's 0/0 = NaN: the sums are divided by
// max(positives, 1). With at least one positive the results are the reference's.
type Multibox struct {
	negPosRatio float64
	matchIoU    float64
	// labelSmoothing is the cross-entropy's label smoothing (0: none, the reference's).
	labelSmoothing float64
}

// NewMultibox returns the loss for the given options.
func NewMultibox(c MultiboxConfig) (*Multibox, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("loss multibox: %w", err)
	}
	return &Multibox{negPosRatio: c.NegPosRatio, matchIoU: c.MatchIoU, labelSmoothing: c.LabelSmoothing}, nil
}

// MatchIoU implements Matching.
func (l *Multibox) MatchIoU() float64 { return l.matchIoU }

// Forward implements Loss. Labels must lie in [0, C).
func (l *Multibox) Forward(conf, loc, labels, gtLoc *ts.Tensor) (regression, classification *ts.Tensor, err error) {
	defer torch.Recover(&err)
	numClasses, err := checkForward(conf, loc, labels, gtLoc)
	if err != nil {
		return nil, nil, err
	}
	s := torch.NewScope()
	defer s.Close()

	detached := s.T(conf.MustDetach(false))
	logProb := s.T(detached.MustLogSoftmax(2, conf.DType(), false))
	background := s.T(s.T(logProb.MustSelect(2, 0, false)).MustNeg(false))
	mask, err := HardNegativeMining(background, labels, l.negPosRatio)
	if err != nil {
		return nil, nil, err
	}
	s.T(mask)
	pos := s.T(labels.MustGt(s.Int(0), false))
	selected, positive := rows(s, mask), rows(s, pos)
	numPos := positive.MustSize()[0]

	// Rows are gathered by index, in row-major order like the reference's conf[mask, :]
	// (masked_select with a broadcast mask is several times slower on CPU).
	flatConf := s.T(conf.MustReshape([]int64{-1, numClasses}, false))
	selConf := s.T(flatConf.MustIndexSelect(0, selected, false))
	selLabels := s.T(s.T(labels.MustReshape([]int64{-1}, false)).MustIndexSelect(0, selected, false))
	clsSum, err := selConf.CrossEntropyLoss(selLabels, ts.None, ts.ReductionSum, -100, l.labelSmoothing, false)
	if err != nil {
		return nil, nil, fmt.Errorf("loss multibox: classification: %w", err)
	}
	s.T(clsSum)

	predPos := s.T(s.T(loc.MustReshape([]int64{-1, 4}, false)).MustIndexSelect(0, positive, false))
	gtPos := s.T(s.T(gtLoc.MustReshape([]int64{-1, 4}, false)).MustIndexSelect(0, positive, false))
	regSum, err := predPos.SmoothL1Loss(gtPos, ts.ReductionSum, 1.0, false)
	if err != nil {
		return nil, nil, fmt.Errorf("loss multibox: regression: %w", err)
	}
	s.T(regSum)

	denom := float64(max(numPos, 1))
	return torch.DivScalar(regSum, denom), torch.DivScalar(clsSum, denom), nil
}

// rows returns the flat indices [N] int64 of the true elements of a [B,P] bool mask, in
// row-major order (a device sync).
func rows(s *torch.Scope, mask *ts.Tensor) *ts.Tensor {
	flat := s.T(mask.MustReshape([]int64{-1}, false))
	return s.T(s.T(flat.MustNonzero(false)).MustReshape([]int64{-1}, false))
}

// checkForward validates the inputs of Forward and returns the number of classes.
func checkForward(conf, loc, labels, gtLoc *ts.Tensor) (int64, error) {
	for _, x := range []struct {
		name string
		t    *ts.Tensor
	}{{"conf", conf}, {"loc", loc}, {"labels", labels}, {"gt locations", gtLoc}} {
		if x.t == nil {
			return 0, fmt.Errorf("loss multibox: %s: nil tensor", x.name)
		}
	}
	cs, err := conf.Size()
	if err != nil {
		return 0, fmt.Errorf("loss multibox: conf: %w", err)
	}
	if len(cs) != 3 || cs[2] < 2 {
		return 0, fmt.Errorf("loss multibox: conf: shape %v, want [B,P,C] with C >= 2", cs)
	}
	dt := conf.DType()
	if dt != gotch.Float && dt != gotch.Double {
		return 0, fmt.Errorf("loss multibox: conf: dtype %v, want float32 or float64", dt)
	}
	dev, err := conf.Device()
	if err != nil {
		return 0, fmt.Errorf("loss multibox: conf: %w", err)
	}
	for _, x := range []struct {
		name string
		t    *ts.Tensor
	}{{"loc", loc}, {"gt locations", gtLoc}} {
		size, err := x.t.Size()
		if err != nil {
			return 0, fmt.Errorf("loss multibox: %s: %w", x.name, err)
		}
		if len(size) != 3 || size[0] != cs[0] || size[1] != cs[1] || size[2] != 4 {
			return 0, fmt.Errorf("loss multibox: %s: shape %v, want [%d %d 4]", x.name, size, cs[0], cs[1])
		}
		if x.t.DType() != dt {
			return 0, fmt.Errorf("loss multibox: %s: dtype %v, want %v like conf", x.name, x.t.DType(), dt)
		}
		if d, err := x.t.Device(); err != nil || d != dev {
			return 0, fmt.Errorf("loss multibox: %s on device %v, conf on %v", x.name, d, dev)
		}
	}
	if err := checkLabels(labels, cs[0], cs[1], dev); err != nil {
		return 0, err
	}
	if cs[0]*cs[1] > 0 {
		s := torch.NewScope()
		defer s.Close()
		lo := s.T(labels.MustMin(false)).Int64Values()[0]
		hi := s.T(labels.MustMax(false)).Int64Values()[0]
		if lo < 0 || hi >= cs[2] {
			return 0, fmt.Errorf("loss multibox: labels range over [%d, %d], want [0, %d) for %d classes", lo, hi, cs[2], cs[2])
		}
	}
	return cs[2], nil
}
