package torch

// int ssd_clear_grad(void* t);
import "C"

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// ClearGrad sets t's gradient to none (PyTorch's `t.grad = None`, what
// Optimizer.zero_grad(set_to_none=True) does per parameter; its default since PyTorch
// 2.0). The next backward pass then hands t the gradient it computes as it is (autograd
// steals the buffer when nothing else holds it) instead of adding it to a zeroed one: no
// zeroing pass and no accumulation pass over every gradient, and no gradient memory held
// between steps. The values are those of zeroing, but for the sign of zeros (0 + -0 is
// +0).
func ClearGrad(t *ts.Tensor) error {
	if rc := C.ssd_clear_grad(t.Ctensor()); rc != 0 {
		return fmt.Errorf("torch: cannot clear the gradient of a %v tensor", t.MustSize())
	}
	return nil
}
