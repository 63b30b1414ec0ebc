package torch

import (
	"runtime"

	"github.com/sugarme/gotch/ts"
)

// InPlace applies op, one of gotch's in-place methods, to t without leaking, e.g.
//
//	err := torch.InPlace(p, func(p *ts.Tensor) error { return p.Sub_(step) })
//	err := torch.InPlace(x, (*ts.Tensor).Relu_)
//
// gotch v0.7.0's in-place wrappers (Sub_, Relu_, Zero_…) store a freshly allocated libtorch
// handle in the receiver and drop nothing: the old handle is lost, and because it still
// holds a reference to the tensor, freeing the receiver later releases only the new handle
// while the storage stays allocated for good. InPlace hands op a second Go value that
// shares t's handle, then frees the handle op leaves there. t keeps its own handle (so
// other Go values copied from *t, such as those VarStore.Variables returns, stay valid)
// and sees the modification, which happened to the shared storage.
//
// op must apply the in-place operation to its argument, not to t.
//
// gotch reports a libtorch error through a per-OS-thread variable that it reads in a second
// cgo call: a goroutine moved to another thread between the two would miss the error and
// keep an uninitialised handle. InPlace keeps its goroutine on one thread for the op.
func InPlace(t *ts.Tensor, op func(*ts.Tensor) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	alias := ts.FromCtensor(t.Ctensor())
	if err := op(alias); err != nil {
		return err
	}
	if alias.Ctensor() != t.Ctensor() {
		return alias.Drop()
	}
	return nil
}

// ZeroGrad zeroes the gradient that t has accumulated, if any, as PyTorch's
// Optimizer.zero_grad(set_to_none=False) does: the gradient is detached from any graph
// and filled with zeros. gotch's own Tensor.ZeroGrad leaks three tensor handles per call.
func ZeroGrad(t *ts.Tensor) error {
	g, err := t.Grad(false)
	if err != nil {
		return err
	}
	defer g.MustDrop()
	defined, err := g.Defined()
	if err != nil || !defined {
		return err
	}
	// A gradient computed without create_graph has no graph (it does not require grad):
	// then, as zero_grad does, there is nothing to detach, and no detach_ op is launched.
	needs, err := g.RequiresGrad()
	if err != nil {
		return err
	}
	if needs {
		if err := InPlace(g, (*ts.Tensor).Detach_); err != nil {
			return err
		}
	}
	return InPlace(g, (*ts.Tensor).Zero_)
}
