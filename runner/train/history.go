package train

import (
	"math"
)

// History is the record of a run: one entry per trained epoch and per validation, the
// best validation so far, and the counts the summary reports. Checkpoints carry it, so a
// resumed run continues its files and charts where they were.
type History struct {
	Epochs      []EpochRecord `json:"epochs"`
	Validations []Validation  `json:"validations"`
	// Best is the validation with the best value of the checkpoint metric (nil before the
	// first validation).
	Best *Best `json:"best,omitempty"`
	// Skipped lists the distinct ids of bad samples dropped (on_bad_sample = "skip").
	Skipped []string `json:"skipped,omitempty"`
	// NonFiniteSkipped counts the batches skipped for a non-finite loss or gradient
	// (training.on_nonfinite = "skip").
	NonFiniteSkipped int `json:"nonfinite_skipped,omitempty"`
	// TrainSeconds is the wall time spent in training and validation, over every session of
	// the run; Images the training images seen.
	TrainSeconds float64 `json:"train_seconds"`
	Images       int64   `json:"images"`
	// Partial holds the sums of an epoch interrupted part-way (so that its record, once
	// finished, covers all its steps); nil at epoch ends.
	Partial *PartialEpoch `json:"partial,omitempty"`
}

// PartialEpoch is the running record of an epoch in progress.
type PartialEpoch struct {
	Epoch          int                `json:"epoch"`
	Steps          int                `json:"steps"`
	Images         int                `json:"images"`
	Regression     float64            `json:"regression_sum"`
	Classification float64            `json:"classification_sum"`
	Seconds        float64            `json:"seconds"`
	LR             map[string]float64 `json:"lr"`
}

// EpochRecord is one trained epoch (Epoch counts from 1).
type EpochRecord struct {
	Epoch          int                `json:"epoch"`
	Steps          int                `json:"steps"`
	Images         int                `json:"images"`
	Loss           float64            `json:"loss"`
	Regression     float64            `json:"regression"`
	Classification float64            `json:"classification"`
	LR             map[string]float64 `json:"lr"` // each group's lr at the epoch's first step
	Seconds        float64            `json:"seconds"`
	ImagesPerSec   float64            `json:"images_per_s"`
}

// Validation is one evaluation on the validation set after epoch Epoch.
type Validation struct {
	Epoch          int     `json:"epoch"`
	Loss           float64 `json:"loss"`
	Regression     float64 `json:"regression"`
	Classification float64 `json:"classification"`
	// Metric is the first configured metric's name and MAP its headline value (mean AP).
	Metric string  `json:"metric"`
	MAP    float64 `json:"map"`
	// PerClass is the first metric's AP per class, in class order.
	PerClass []ClassAP `json:"per_class"`
	// Metrics holds every metric's headline value and extras ("voc", "coco", "coco.AP50").
	Metrics map[string]float64 `json:"metrics"`
	Images  int                `json:"images"`
	Seconds float64            `json:"seconds"`
}

// ClassAP is one class's average precision.
type ClassAP struct {
	Class string  `json:"class"`
	AP    float64 `json:"ap"`
}

// Best names the best validation by the checkpoint metric.
type Best struct {
	Epoch  int     `json:"epoch"`
	Metric string  `json:"metric"` // "val_loss" or "map"
	Value  float64 `json:"value"`
}

// score returns a validation's value of the checkpoint metric and whether higher is
// better.
func score(v Validation, metric string) (float64, bool) {
	if metric == "map" {
		return v.MAP, true
	}
	return v.Loss, false
}

// improves reports whether v beats the best so far by the checkpoint metric.
func (h *History) improves(v Validation, metric string) bool {
	val, higher := score(v, metric)
	if math.IsNaN(val) {
		return false
	}
	if h.Best == nil {
		return true
	}
	if higher {
		return val > h.Best.Value
	}
	return val < h.Best.Value
}

// upTo drops the records after epoch (a resume from a checkpoint taken then).
func (h *History) upTo(epoch int) {
	keepE := h.Epochs[:0]
	for _, e := range h.Epochs {
		if e.Epoch <= epoch {
			keepE = append(keepE, e)
		}
	}
	h.Epochs = keepE
	keepV := h.Validations[:0]
	for _, v := range h.Validations {
		if v.Epoch <= epoch {
			keepV = append(keepV, v)
		}
	}
	h.Validations = keepV
}

// lastValidation returns the newest validation, or nil.
func (h *History) lastValidation() *Validation {
	if len(h.Validations) == 0 {
		return nil
	}
	return &h.Validations[len(h.Validations)-1]
}

// validationAt returns the validation after epoch, or nil.
func (h *History) validationAt(epoch int) *Validation {
	for i := range h.Validations {
		if h.Validations[i].Epoch == epoch {
			return &h.Validations[i]
		}
	}
	return nil
}
