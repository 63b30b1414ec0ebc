// Package postprocess turns an SSD's raw predictions into detections: class
// probabilities by softmax, boxes decoded against the priors, and per-class
// non-maximum suppression, hard (greedy) or soft (Gaussian), as the PyTorch SSD
// project's Predictor.predict and its box utilities hard_nms and soft_nms do.
//
// Results equal the reference's exactly, including which of several equal-score boxes
// wins: the candidates are ordered with the same libtorch sort on the same sequence of
// values, IoU values and score decays are computed by the same libtorch operations, and
// every threshold comparison is made in float32 as PyTorch makes it for a float32 tensor
// and a Python float. The tensor math (softmax, decoding, selection, sorting, IoU
// matrices, decays) runs in libtorch; only the greedy passes over the resulting
// matrices run in Go.
//
// All tensors are float32 and on the CPU; every function frees what it creates and
// returns tensors owned by the caller.
package postprocess

import (
	"fmt"
	"math"
)

// Methods of non-maximum suppression accepted in Config.Method.
const (
	Hard = "hard" // greedy: a box overlapping a better kept box by more than IoUThreshold is dropped
	Soft = "soft" // Gaussian: overlapping boxes have their score decayed by exp(-IoU²/Sigma)
)

// Config configures Detect (the experiment's evaluation.nms block). The reference's
// evaluation settings are Method "hard", IoUThreshold 0.45, ScoreThreshold 0.01,
// CandidateSize 200, TopK 0 (all) and Sigma 0.5.
type Config struct {
	// Method is Hard or Soft.
	Method string
	// IoUThreshold: in hard NMS a box is kept only if its IoU with every better kept box
	// of its class is <= IoUThreshold. Soft NMS does not use it (nor does the reference).
	IoUThreshold float64
	// ScoreThreshold: only class probabilities > ScoreThreshold become candidates; in
	// soft NMS, boxes whose decayed score falls to ScoreThreshold or below are dropped.
	ScoreThreshold float64
	// CandidateSize: hard NMS considers only the CandidateSize best candidates of each
	// class; <= 0 means all. Soft NMS ignores it (as the reference), except with
	// ClassAgnostic, where it caps each class's share of the common candidate set.
	CandidateSize int
	// TopK: at most TopK detections per class, the best ones (the reference passes its
	// top_k to each class's NMS); <= 0 means all. With ClassAgnostic, per image.
	TopK int
	// Sigma is the Gaussian parameter of soft NMS: a score is multiplied by
	// exp(-IoU²/Sigma) for each better pick.
	Sigma float64
	// ClassAgnostic runs one NMS over the candidates of all classes together, so that
	// boxes of different classes suppress each other (not in the reference).
	ClassAgnostic bool
}

// Validate checks the settings that the chosen method uses.
func (c Config) Validate() error {
	switch c.Method {
	case Hard:
		if !(c.IoUThreshold >= 0 && c.IoUThreshold <= 1) {
			return fmt.Errorf("postprocess: iou_threshold must be in [0, 1], got %g", c.IoUThreshold)
		}
	case Soft:
		if !(c.Sigma > 0) || math.IsInf(c.Sigma, 1) {
			return fmt.Errorf("postprocess: sigma must be a positive number, got %g", c.Sigma)
		}
	default:
		return fmt.Errorf("postprocess: method %q: want %q or %q", c.Method, Hard, Soft)
	}
	if !(c.ScoreThreshold >= 0 && c.ScoreThreshold <= 1) {
		return fmt.Errorf("postprocess: score_threshold must be in [0, 1], got %g", c.ScoreThreshold)
	}
	return nil
}

// Detections are the detections of one image.
type Detections struct {
	Boxes  [][4]float32 // xmin, ymin, xmax, ymax relative to the image (not clipped to [0, 1])
	Scores []float32    // class probabilities; with soft NMS, the decayed ones
	Labels []int        // class indices >= 1 (0 is the background)
}

// Len returns the number of detections.
func (d Detections) Len() int { return len(d.Scores) }

func (d *Detections) add(box [4]float32, score float32, label int) {
	d.Boxes = append(d.Boxes, box)
	d.Scores = append(d.Scores, score)
	d.Labels = append(d.Labels, label)
}
