package optimizer

// int at_grad_set_enabled(int b);
import "C"

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch/ts"
)

// setGradEnabled sets libtorch's (thread-local) gradient mode and returns the previous
// mode. gotch v0.7.0's GradSetEnabled cannot be used to restore a mode: it reads the C int
// it gets back as an 8-byte Go int, so the "previous" mode it reports is garbage (usually
// false), and restoring it leaves gradient tracking off.
func setGradEnabled(on bool) (prev bool, err error) {
	b := C.int(0)
	if on {
		b = 1
	}
	r := C.at_grad_set_enabled(b)
	if err := ts.TorchErr(); err != nil {
		return false, err
	}
	if r != 0 && r != 1 {
		return false, fmt.Errorf("setting the gradient mode failed (code %d)", int(r))
	}
	return r == 1, nil
}

// noGrad turns gradient tracking off and returns the function that restores it. The
// gradient mode belongs to the OS thread, so the goroutine stays on its thread until
// restore: otherwise the mode could be turned off on one thread and "restored" on another,
// leaving the first with tracking off for whatever runs there next.
func noGrad() (restore func() error, err error) {
	runtime.LockOSThread()
	prev, err := setGradEnabled(false)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("disabling gradient tracking: %w", err)
	}
	return func() error {
		defer runtime.UnlockOSThread()
		if _, err := setGradEnabled(prev); err != nil {
			return fmt.Errorf("restoring gradient tracking: %w", err)
		}
		return nil
	}, nil
}
