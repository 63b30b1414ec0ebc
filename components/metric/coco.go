package metric

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// COCOConfig configures the "coco" metric.
type COCOConfig struct {
	MaxDets int `hcl:"max_dets,optional" doc:"detections kept per image and class, best scores first (default 100, pycocotools' maxDets for AP)"`
}

// Validate checks the options.
func (c *COCOConfig) Validate() error {
	if c.MaxDets < 1 {
		return fmt.Errorf("max_dets must be >= 1, got %d", c.MaxDets)
	}
	return nil
}

// coco is the COCO box AP of pycocotools' COCOeval (evaluate, accumulate, summarize) for
// the area range "all": Value is AP@[.5:.95], Extra holds "AP50" and "AP75".
//
// Per image and class, detections are sorted by descending score (ties in input order)
// and the first max_dets kept. At each IoU threshold 0.50, 0.55 … 0.95, each detection in
// turn goes to the unmatched ground truth of highest IoU >= the threshold (the last one on
// ties), non-difficult ground truths first; difficult ones are COCO crowd regions
// (iscrowd=1): IoU with them is the overlap over the detection's area, they absorb any
// number of detections, and a detection they absorb is ignored. Per class, the precision
// envelope is sampled at 101 recall points and averaged, and the classes' APs are
// averaged; a class without a non-difficult ground truth is left out, as COCOeval does.
//
// Not reproduced: the small/medium/large area ranges and the AR numbers. PerClass holds
// each class's AP@[.5:.95] and its precision–recall curve at IoU 0.5.
type coco struct {
	maxDets int
}

func (m coco) Evaluate(classNames []string, gts []GroundTruth, dets []Detection) (_ Result, err error) {
	defer torch.Recover(&err)
	s, err := newSet("coco", classNames, gts, dets)
	if err != nil {
		return Result{}, err
	}
	// COCOeval takes the ground truths of an image that are not ignored first.
	cells := make(map[cell][]int32, len(s.cells))
	for k, v := range s.cells {
		v = slices.Clone(v)
		slices.SortStableFunc(v, func(a, b int32) int {
			return cmp.Compare(boolInt(s.gtHard[a]), boolInt(s.gtHard[b]))
		})
		cells[k] = v
	}
	p := s.pairsOf(cells)
	iou, err := cocoIoU(s, p)
	if err != nil {
		return Result{}, fmt.Errorf("metric coco: %w", err)
	}
	iouThrs, recThrs := cocoIoUThresholds(), cocoRecallThresholds()
	taken := make([][]bool, len(iouThrs))
	for t := range taken {
		taken[t] = make([]bool, len(s.gtBox))
	}
	res := Result{Metric: "coco", Extra: map[string]float64{}}
	var sum, sum50, sum75 float64
	for c := 1; c < s.numClasses; c++ {
		if s.positives[c] == 0 {
			continue
		}
		order := m.kept(s, c)
		out := make([][]outcome, len(iouThrs))
		for t := range out {
			out[t] = make([]outcome, len(order))
		}
		for i, d := range order { // thresholds inside: each detection's pairs are read once
			for t, thr := range iouThrs {
				out[t][i] = cocoMatch(s, p, iou, taken[t], d, min(thr, 1-1e-10))
			}
		}
		apT := 0.0
		for t := range iouThrs {
			ap := coco101AP(out[t], s.positives[c], recThrs)
			apT += ap
			switch t {
			case 0:
				sum50 += ap
			case 5:
				sum75 += ap
			}
		}
		ap := apT / float64(len(iouThrs))
		sum += ap
		cv := vocCurve(out[0], s.positives[c])
		res.PerClass = append(res.PerClass, ClassResult{
			Class: classNames[c], AP: ap, Precision: cv.precision, Recall: cv.recall,
		})
	}
	if n := float64(len(res.PerClass)); n > 0 {
		res.Value = sum / n
		res.Extra["AP50"] = sum50 / n
		res.Extra["AP75"] = sum75 / n
	}
	return res, nil
}

// kept returns the detections of class c that COCOeval evaluates, in the order its
// accumulate step sorts them: the best max_dets of each image, then all by descending
// score, ties by image (input order of the ground truths) and by input order.
func (m coco) kept(s *set, c int) []int32 {
	keys := make([]scored, len(s.byClass[c]))
	for i, d := range s.byClass[c] {
		keys[i] = scored{score: s.dets[d].Score, image: s.detImage[d], det: d}
	}
	slices.SortFunc(keys, func(a, b scored) int {
		if r := cmp.Compare(a.image, b.image); r != 0 {
			return r
		}
		if r := cmp.Compare(b.score, a.score); r != 0 {
			return r
		}
		return cmp.Compare(a.det, b.det)
	})
	out := keys[:0] // filtered in place: out never overtakes the loop
	prev, n := int32(-1), 0
	for _, k := range keys {
		if k.image != prev {
			prev, n = k.image, 0
		}
		if n < m.maxDets {
			out = append(out, k)
		}
		n++
	}
	slices.SortFunc(out, func(a, b scored) int {
		if r := cmp.Compare(b.score, a.score); r != 0 {
			return r
		}
		if r := cmp.Compare(a.image, b.image); r != 0 {
			return r
		}
		return cmp.Compare(a.det, b.det)
	})
	order := make([]int32, len(out))
	for i, k := range out {
		order[i] = k.det
	}
	return order
}

// cocoMatch is COCOeval.evaluateImg's matching of detection d at IoU threshold thr; taken
// marks the ground truths matched so far at this threshold.
func cocoMatch(s *set, p pairs, iou []float64, taken []bool, d int32, thr float64) outcome {
	m := int32(-1)
	for k := p.start[d]; k < p.start[d+1]; k++ {
		g := p.gt[k]
		if taken[g] && !s.gtHard[g] {
			continue
		}
		if m >= 0 && !s.gtHard[p.gt[m]] && s.gtHard[g] {
			break
		}
		if iou[k] < thr {
			continue
		}
		thr, m = iou[k], k
	}
	if m < 0 {
		return falsePositive
	}
	g := p.gt[m]
	taken[g] = true
	if s.gtHard[g] {
		return ignored
	}
	return truePositive
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "coco",
		Summary: "COCO box AP@[.5:.95] with AP50 and AP75, as pycocotools' COCOeval (difficult objects as crowd regions)",
		Config:  func() any { return &COCOConfig{MaxDets: 100} },
	}, func(cfg any) (Metric, error) {
		c := registry.As[COCOConfig](cfg)
		return coco{maxDets: c.MaxDets}, nil
	})
}
