// Package nmsconfig holds the settings of components/postprocess's non-maximum suppression
// and their validation. It does not need libtorch, so that runner/config checks an
// experiment's evaluation.nms block with the very rules Detect applies; postprocess
// re-exports Config, Hard and Soft.
package nmsconfig

import (
	"errors"
	"fmt"
	"math"
)

// Methods of non-maximum suppression accepted in Config.Method.
const (
	Hard = "hard" // greedy: a box overlapping a better kept box by more than IoUThreshold is dropped
	Soft = "soft" // Gaussian: overlapping boxes have their score decayed by exp(-IoU²/Sigma)
)

// Config configures postprocess.Detect (the experiment's evaluation.nms block). The reference's
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

// Validate checks the settings that the chosen method uses: a value the method does not
// use (Sigma with Hard, IoUThreshold with Soft) is not an error, and CandidateSize and TopK
// take any value (<= 0 means all). Each problem is an *OptionError; with several, the
// error joins them (errors.Join), in the order of the fields.
func (c Config) Validate() error {
	var errs []error
	bad := func(option, format string, args ...any) {
		errs = append(errs, &OptionError{Option: option, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Method {
	case Hard, Soft:
	default:
		bad("method", "method %q: want %q or %q", c.Method, Hard, Soft)
	}
	if c.Method == Hard && !(c.IoUThreshold >= 0 && c.IoUThreshold <= 1) {
		bad("iou_threshold", "iou_threshold must be in [0, 1], got %g", c.IoUThreshold)
	}
	if !(c.ScoreThreshold >= 0 && c.ScoreThreshold <= 1) {
		bad("score_threshold", "score_threshold must be in [0, 1], got %g", c.ScoreThreshold)
	}
	if c.Method == Soft && (!(c.Sigma > 0) || math.IsInf(c.Sigma, 1)) {
		bad("sigma", "sigma must be a positive number, got %g", c.Sigma)
	}
	return errors.Join(errs...)
}

// OptionError is a problem with one option of a Config.
type OptionError struct {
	Option string // the option's name in the experiment's evaluation.nms block, e.g. "sigma"
	Msg    string // what is wrong, starting with the option's name
}

func (e *OptionError) Error() string { return "postprocess: " + e.Msg }
