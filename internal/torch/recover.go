package torch

import (
	"errors"
	"runtime"
	"strings"
)

// The project's one error channel for libtorch failures.
//
// A libtorch op that fails deep inside a computation panics: gotch's Must* wrappers do
// (third_party/gotch-compat/patch-must-panic.sh makes them panic with the libtorch error
// instead of calling log.Fatal, which would exit the process without running deferred
// functions), and so do the layers of components/nn (with an *nn.OpError). The exported
// entry points of the packages that compute with tensors (loss, postprocess, target,
// boxes, metric, model, head, backbone) defer Recover, so a failure comes back to the
// caller as an error value that names what failed, and the caller can still save a
// checkpoint or report it.
//
// What is recovered and what is not: a panic whose value is an error, other than a Go
// runtime error, becomes the error. That is gotch's libtorch error (its Must* wrappers and
// ts helpers panic with nothing else) and the layer kit's *nn.OpError. A runtime.Error (nil
// dereference, index out of range, failed type assertion, division by zero) and any panic
// with a value that is not an error (panic("unreachable"), panic(fmt.Sprintf(...)) for an
// inconsistent spec) are programming bugs: they go on panicking, with their stack.
//
// A panic is only recovered on the goroutine that raised it: code that runs tensor ops on
// its own goroutines must recover there.

// Recover turns a panic carrying a libtorch or op error into *err; every other panic goes
// on. Defer it directly (recover only works in the deferred function itself) in a function
// with a named error result:
//
//	func (l *Loss) Compute(...) (_ Result, err error) {
//		defer torch.Recover(&err)
//		...
//	}
//
// Tensors made before the failure by the failed call are not freed (a failure is a bug or
// a bad input size, not a steady state); a function that must free partial results defers
// its own function that calls recover and PanicError.
func Recover(err *error) {
	if r := recover(); r != nil {
		*err = PanicError(r)
	}
}

// PanicError returns the error that a recovered panic value r carries, or panics again
// with r when it is not one that Recover turns into an error (see Recover). It is for
// deferred functions that do more than Recover, e.g. free partial results:
//
//	defer func() {
//		if r := recover(); r != nil {
//			err = torch.PanicError(r)
//		}
//		...
//	}()
func PanicError(r any) error {
	e, ok := r.(error)
	var re runtime.Error
	if !ok || errors.As(e, &re) {
		panic(r)
	}
	return e
}

// ErrLine is the first line of a libtorch error: its message without the C++ backtrace
// that follows it.
func ErrLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
