package scheduler

import (
	"errors"
	"fmt"
)

// Warmup is the `warmup` block every schedule accepts. During the first Epochs epochs
// (counted in steps when the steps per epoch are known) the schedule's learning rate is
// multiplied by a factor: "linear" ramps it from StartFactor to 1, "constant" holds it at
// StartFactor. Epochs = 0 (the default, or no block) means no warmup.
type Warmup struct {
	Epochs      float64 `hcl:"epochs" doc:"length of the warmup in epochs; may be fractional (e.g. 0.5 = half an epoch of steps)"`
	StartFactor float64 `hcl:"start_factor,optional" doc:"factor applied at the first step, in [0, 1] (default 0.1)"`
	Method      string  `hcl:"method,optional" doc:"\"linear\" (ramp from start_factor to 1, per step) or \"constant\" (start_factor until the end of the warmup); default \"linear\""`
}

// maxWarmupEpochs bounds warmup.epochs: far beyond any run, and small enough that its
// count of steps stays an exact integer.
const maxWarmupEpochs = 1e6

// defaultWarmup is the block's defaults (no warmup).
func defaultWarmup() Warmup { return Warmup{StartFactor: 0.1, Method: "linear"} }

func (w Warmup) validate() error {
	switch {
	case w.Epochs < 0:
		return fmt.Errorf("warmup.epochs must be >= 0, got %g", w.Epochs)
	case w.Epochs > maxWarmupEpochs:
		return fmt.Errorf("warmup.epochs must be at most %g, got %g", float64(maxWarmupEpochs), w.Epochs)
	case w.StartFactor < 0 || w.StartFactor > 1:
		return fmt.Errorf("warmup.start_factor must be in [0, 1], got %g", w.StartFactor)
	case w.Method != "linear" && w.Method != "constant":
		return fmt.Errorf("warmup.method must be \"linear\" or \"constant\", got %q", w.Method)
	}
	return nil
}

// factor returns the warmup multiplier at progress p.
func (w Warmup) factor(p Progress) float64 {
	t := p.Epochs()
	if w.Epochs <= 0 || t >= w.Epochs {
		return 1
	}
	if w.Method == "constant" {
		return w.StartFactor
	}
	return w.StartFactor + (1-w.StartFactor)*t/w.Epochs
}

func validateOffset(offset int) error {
	if offset < 0 {
		return fmt.Errorf("epoch_offset must be >= 0, got %d", offset)
	}
	return nil
}

// common validates the options every schedule shares.
func common(w Warmup, offset int) error {
	return errors.Join(w.validate(), validateOffset(offset))
}

// wrapped applies the epoch offset to the inner schedule and the warmup on top of it.
type wrapped struct {
	inner  Schedule
	warmup Warmup
	offset int
}

func (w wrapped) LR(base float64, p Progress) float64 {
	q := p
	q.Epoch += w.offset
	return w.inner.LR(base, q) * w.warmup.factor(p)
}

// finish wraps s with the shared options; s is returned as is when they change nothing.
func finish(s Schedule, w Warmup, offset int) Schedule {
	if w.Epochs == 0 && offset == 0 {
		return s
	}
	return wrapped{inner: s, warmup: w, offset: offset}
}
