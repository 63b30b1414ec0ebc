package metric

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// VOCConfig configures the "voc" metric.
type VOCConfig struct {
	IoUThreshold  float64 `hcl:"iou_threshold,optional" doc:"a detection matches a ground truth when their IoU is strictly above this (default 0.5, as eval_ssd.py)"`
	Use2007Metric bool    `hcl:"use_2007_metric,optional" doc:"true (default, as eval_ssd.py): VOC2007 11-point interpolated AP; false: area under the precision envelope (VOC2010 and later)"`
}

// Validate checks the options.
func (c *VOCConfig) Validate() error {
	if !(c.IoUThreshold >= 0 && c.IoUThreshold < 1) {
		return fmt.Errorf("iou_threshold must be in [0, 1), got %g", c.IoUThreshold)
	}
	return nil
}

// voc is the PASCAL VOC average precision of the reference's eval_ssd.py.
//
// Per class, detections are taken by descending score (ties in input order). Each is
// compared with every ground truth of its class in its image (IoU as box_utils.iou_of:
// continuous coordinates, no +1 on widths, 1e-5 added to the union) and goes to the one
// of highest IoU (the first on ties). If that IoU is above the threshold and the ground
// truth is difficult, the detection is ignored; if it is not difficult and not yet
// taken, it is a true positive and takes it; otherwise (taken, IoU too low, or no ground
// truth) a false positive. Only non-difficult ground truths count as positives.
//
// Like the reference, and unlike the official VOC devkit, box widths have no +1 pixel and
// the IoU must exceed the threshold (the devkit accepts equality); the IoU is float32.
// The reference also writes detection boxes to text files with 1 added and reads them
// back less 1, in float32, which can move a coordinate by a float32 rounding step: that
// detour is not reproduced (boxes go straight from the caller to float32).
//
// Where the reference fails or returns NaN, this does what the VOC devkit does:
//   - a class with no non-difficult ground truth stops eval_ssd.py with a KeyError; here it
//     is left out of PerClass and of the mean;
//   - when a class's best-scored detections are all ignored, the reference's first
//     precisions are 0/0 = NaN and its 11-point AP is NaN; here those points are dropped
//     (the devkit's MATLAB max skips NaN), which leaves the envelope AP unchanged.
type voc struct {
	threshold float64
	use2007   bool
}

func (m voc) Evaluate(classNames []string, gts []GroundTruth, dets []Detection) (_ Result, err error) {
	defer torch.Recover(&err)
	s, err := newSet("voc", classNames, gts, dets)
	if err != nil {
		return Result{}, err
	}
	p := s.pairsOf(s.cells)
	iou, err := vocIoU(s, p)
	if err != nil {
		return Result{}, fmt.Errorf("metric voc: %w", err)
	}
	res := Result{Metric: "voc"}
	taken := make([]bool, len(s.gtBox)) // a ground truth belongs to one class: no reset needed
	sum := 0.0
	for c := 1; c < s.numClasses; c++ {
		if s.positives[c] == 0 {
			continue
		}
		order := byScore(s.dets, s.byClass[c])
		out := make([]outcome, len(order))
		for i, d := range order {
			out[i] = m.match(s, p, iou, taken, d)
		}
		cv := vocCurve(out, s.positives[c])
		ap := vocAreaAP(cv)
		if m.use2007 {
			ap = voc07AP(cv)
		}
		sum += ap
		res.PerClass = append(res.PerClass, ClassResult{
			Class: classNames[c], AP: ap, Precision: cv.precision, Recall: cv.recall,
		})
	}
	if n := len(res.PerClass); n > 0 {
		res.Value = sum / float64(n)
	}
	return res, nil
}

// match decides detection d's outcome and marks the ground truth it takes.
func (m voc) match(s *set, p pairs, iou []float64, taken []bool, d int32) outcome {
	lo, hi := p.start[d], p.start[d+1]
	if lo == hi {
		return falsePositive
	}
	best := lo
	for k := lo + 1; k < hi; k++ {
		if iou[k] > iou[best] {
			best = k
		}
	}
	if !(iou[best] > m.threshold) {
		return falsePositive
	}
	g := p.gt[best]
	switch {
	case s.gtHard[g]:
		return ignored
	case taken[g]:
		return falsePositive
	default:
		taken[g] = true
		return truePositive
	}
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "voc",
		Summary: "PASCAL VOC mean average precision as the reference eval_ssd.py computes it (11-point VOC2007 by default)",
		Config:  func() any { return &VOCConfig{IoUThreshold: 0.5, Use2007Metric: true} },
	}, func(cfg any) (Metric, error) {
		c := registry.As[VOCConfig](cfg)
		return voc{threshold: c.IoUThreshold, use2007: c.Use2007Metric}, nil
	})
}
