package train

import "fmt"

// recoverOp turns a panic carrying an error (a libtorch failure inside a layer or an op)
// into *err, so that a failing step ends the run with a message and a checkpoint instead
// of a crash. Other panics are programming errors and go on.
func recoverOp(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(error); ok {
		*err = fmt.Errorf("libtorch: %w", e)
		return
	}
	panic(r)
}
