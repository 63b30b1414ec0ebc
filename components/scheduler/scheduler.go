// Package scheduler holds the learning-rate schedules. A schedule is a pure function of
// training progress: LR(base, p) gives the learning rate to use at progress p for a group
// whose base learning rate is base, so resuming a run needs no scheduler state.
//
// Every schedule also accepts a `warmup` block (a ramp applied on top of the schedule
// during the first epochs) and `epoch_offset` (a shift of the epoch fed to the schedule);
// both are implemented once, in common.go. The default epoch_offset 0 is the correct
// behaviour; the reference train_ssd.py steps its PyTorch scheduler at the start of each
// epoch, so its epoch e trains with the schedule's value at e+1, which epoch_offset = 1
// reproduces.
package scheduler

import (
	"github.com/ssdrunner/ssdrunner/registry"
)

// Progress locates a training step: Epoch is 0-based, Step is the 0-based step within the
// epoch and StepsPerEpoch the number of steps in an epoch (0 when unknown, in which case
// only whole epochs are seen).
type Progress struct {
	Epoch, Step, StepsPerEpoch int
}

// Epochs returns progress in (fractional) epochs: Epoch + Step/StepsPerEpoch, or Epoch when
// StepsPerEpoch is not positive.
func (p Progress) Epochs() float64 {
	if p.StepsPerEpoch <= 0 {
		return float64(p.Epoch)
	}
	return float64(p.Epoch) + float64(p.Step)/float64(p.StepsPerEpoch)
}

// Schedule maps a base learning rate and a point of training to the learning rate used there.
type Schedule interface {
	LR(base float64, p Progress) float64
}

// Factory builds a schedule from its decoded config.
type Factory func(cfg any) (Schedule, error)

// Registry holds the schedules, by the name experiment files use.
var Registry = registry.New[Factory]("scheduler", "learning-rate schedules")

// Build resolves ref (name and options) and builds the schedule.
func Build(ref registry.Ref) (Schedule, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return e.Factory(cfg)
}

// At returns the learning rate at the first step of each of the given epochs, for a group
// with base learning rate base (e.g. for `runner plan` to print the schedule).
// stepsPerEpoch only matters for schedules that move within an epoch.
func At(s Schedule, base float64, stepsPerEpoch int, epochs ...int) []float64 {
	out := make([]float64, len(epochs))
	for i, e := range epochs {
		out[i] = s.LR(base, Progress{Epoch: e, StepsPerEpoch: stepsPerEpoch})
	}
	return out
}
