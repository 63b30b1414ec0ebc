package metric

import (
	"cmp"
	"slices"
)

// outcome is what a detection turned out to be after matching.
type outcome uint8

const (
	falsePositive outcome = iota
	truePositive
	ignored // matched a difficult (crowd) ground truth: neither TP nor FP
)

// curve is a cumulative precision–recall curve, one point per detection in score order.
// Leading detections that are all ignored (0 TPs and 0 FPs so far) have no point: their
// precision is 0/0.
type curve struct {
	precision, recall []float64
}

// vocCurve accumulates outcomes (in score order) as the reference does:
// precision = TP/(TP+FP), recall = TP/positives.
func vocCurve(out []outcome, positives int) curve {
	var c curve
	tp, fp := 0.0, 0.0
	for _, o := range out {
		switch o {
		case truePositive:
			tp++
		case falsePositive:
			fp++
		}
		if tp+fp == 0 {
			continue
		}
		c.precision = append(c.precision, tp/(tp+fp))
		c.recall = append(c.recall, tp/float64(positives))
	}
	return c
}

// voc07AP is the VOC2007 11-point interpolated AP: the mean over t of the highest
// precision at recall >= t. Like the reference, the thresholds are numpy's
// arange(0, 1.1, 0.1), i.e. i*0.1, so 0.3, 0.6 and 0.7 are a hair above the decimals
// (0.30000000000000004…) and a recall of exactly 3/10 does not reach the fourth point.
func voc07AP(c curve) float64 {
	ap := 0.0
	for i := 0; i <= 10; i++ {
		t := float64(i) * 0.1
		p, found := 0.0, false
		for k, r := range c.recall {
			if r >= t && (!found || c.precision[k] > p) {
				p, found = c.precision[k], true
			}
		}
		ap += p / 11
	}
	return ap
}

// vocAreaAP is the VOC2010+ AP: the area under the precision envelope (the highest
// precision at any higher recall), over the recall steps.
func vocAreaAP(c curve) float64 {
	n := len(c.precision)
	p := make([]float64, n+2)
	r := make([]float64, n+2)
	copy(p[1:], c.precision)
	copy(r[1:], c.recall)
	r[n+1] = 1
	for i := n + 1; i > 0; i-- {
		p[i-1] = max(p[i-1], p[i])
	}
	area := 0.0
	for i := 0; i <= n; i++ {
		if r[i+1] != r[i] {
			area += (r[i+1] - r[i]) * p[i+1]
		}
	}
	return area
}

// cocoRecallThresholds are pycocotools' recThrs, numpy's linspace(0, 1, 101): i*0.01.
func cocoRecallThresholds() []float64 {
	t := make([]float64, 101)
	for i := range t {
		t[i] = float64(i) * 0.01
	}
	t[100] = 1
	return t
}

// cocoIoUThresholds are pycocotools' iouThrs, numpy's linspace(0.5, 0.95, 10):
// 0.5 + i*((0.95-0.5)/9), the last one 0.95 (the ninth is 0.8999999999999999).
func cocoIoUThresholds() []float64 {
	lo, hi := 0.5, 0.95
	step := (hi - lo) / 9
	t := make([]float64, 10)
	for i := range t {
		t[i] = float64(i)*step + lo
	}
	t[9] = hi
	return t
}

// cocoEps is numpy's spacing(1), which pycocotools adds to TP+FP.
const cocoEps = 2.220446049250313e-16

// coco101AP is pycocotools' AP of one class at one IoU threshold: the precision envelope
// sampled at the 101 recall thresholds (the first detection whose recall reaches the
// threshold; 0 beyond the highest recall), averaged. out is in score order; ignored
// detections count for nothing.
func coco101AP(out []outcome, positives int, recThrs []float64) float64 {
	rc := make([]float64, len(out))
	pr := make([]float64, len(out))
	tp, fp := 0.0, 0.0
	for i, o := range out {
		switch o {
		case truePositive:
			tp++
		case falsePositive:
			fp++
		}
		rc[i] = tp / float64(positives)
		pr[i] = tp / (fp + tp + cocoEps)
	}
	for i := len(pr) - 1; i > 0; i-- {
		if pr[i] > pr[i-1] {
			pr[i-1] = pr[i]
		}
	}
	sum := 0.0
	for _, thr := range recThrs {
		k, _ := slices.BinarySearch(rc, thr) // numpy searchsorted, side="left"
		if k >= len(rc) {
			break
		}
		sum += pr[k]
	}
	return sum / float64(len(recThrs))
}

// byScore returns detection indices idx sorted by descending score, ties in input order
// (a stable sort: numpy's mergesort of pycocotools).
func byScore(dets []Detection, idx []int32) []int32 {
	keys := make([]scored, len(idx))
	for i, d := range idx {
		keys[i] = scored{score: dets[d].Score, det: d}
	}
	slices.SortFunc(keys, func(a, b scored) int {
		if r := cmp.Compare(b.score, a.score); r != 0 {
			return r
		}
		return cmp.Compare(a.det, b.det)
	})
	out := make([]int32, len(keys))
	for i, k := range keys {
		out[i] = k.det
	}
	return out
}

// scored is a sort key: a detection's score, image and index (its input position).
type scored struct {
	score      float64
	image, det int32
}
