package torch

// int at_grad_set_enabled(int enabled);
import "C"

import (
	"fmt"
	"runtime"

	"github.com/sugarme/gotch/ts"
)

// SetGradEnabled switches libtorch's gradient recording on or off for the calling OS
// thread (torch.set_grad_enabled) and returns the previous setting. It is the project's
// only binding of the grad mode: packages outside internal/torch use it (or NoGrad) rather
// than a cgo declaration of their own.
//
// Use it instead of gotch's ts.GradSetEnabled, whose cgo wrapper reads the 4-byte C result
// as an 8-byte Go int: the upper half is stack garbage, so it often reports "was off"
// when recording was on. gotch's ts.NoGrad, used by its VarStore.Load, LoadWeights and
// Copy, therefore can leave recording switched off: call SetGradEnabled(true) before
// training after any of those.
func SetGradEnabled(on bool) (prev bool, err error) {
	v := C.int(0)
	if on {
		v = 1
	}
	r := C.at_grad_set_enabled(v)
	if err := ts.TorchErr(); err != nil {
		return false, fmt.Errorf("torch: setting the grad mode: %w", err)
	}
	if r != 0 && r != 1 { // libtch returns -1 on a failure; never leave err nil then
		return false, fmt.Errorf("torch: setting the grad mode failed (code %d)", int(r))
	}
	return r == 1, nil
}

// NoGrad runs fn with gradient recording switched off, like PyTorch's torch.no_grad(), and
// restores the previous mode afterwards, also when fn panics. It returns fn's error.
//
// libtorch keeps the grad mode per OS thread, while a goroutine may move between OS threads
// between two cgo calls; NoGrad therefore locks the calling goroutine to its thread while
// fn runs (gotch's ts.NoGrad does not). Tensor work that fn hands to other goroutines does
// not run under no-grad.
func NoGrad(fn func() error) (err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := SetGradEnabled(false)
	if err != nil {
		return err
	}
	defer func() {
		if _, rerr := SetGradEnabled(prev); rerr != nil && err == nil {
			err = rerr
		}
	}()
	return fn()
}
