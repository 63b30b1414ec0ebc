package train

import (
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// Stepper runs `runner apply`'s optimizer step on batches outside the training loop, for
// benchmarks that time the step itself (internal/refbench times it against the
// reference's train_ssd.py loop body). Its step is the loop's: clear the gradients, forward
// in training mode, MultiBox loss, both losses read back, backward, the finiteness check
// of the gradients, the optimizer's update.
type Stepper struct{ t *trainer }

// NewStepper returns a Stepper over run's model, loss and optimizer (run must have been
// built with an optimizer). The run stays the caller's.
func NewStepper(run *build.Run) *Stepper {
	return &Stepper{t: &trainer{run: run, vars: modelVars(run.Model)}}
}

// Step runs one optimizer step on b and returns its regression and classification
// losses. A non-finite loss or gradient is an error, and the parameters are then left
// as they were.
func (s *Stepper) Step(b *loader.Batch) (reg, cls float64, err error) {
	return s.t.step(b)
}
