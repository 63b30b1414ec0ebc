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

import "github.com/ssdrunner/ssdrunner/components/postprocess/nmsconfig"

// Methods of non-maximum suppression accepted in Config.Method.
const (
	Hard = nmsconfig.Hard // greedy: a box overlapping a better kept box by more than IoUThreshold is dropped
	Soft = nmsconfig.Soft // Gaussian: overlapping boxes have their score decayed by exp(-IoU²/Sigma)
)

// Config configures Detect (the experiment's evaluation.nms block); it is defined, with its
// Validate, in nmsconfig, which does not need libtorch, so that checking an experiment file
// applies the same rules.
type Config = nmsconfig.Config

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
