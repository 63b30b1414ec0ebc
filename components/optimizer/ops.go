package optimizer

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Why the updates go through `_out` ops: gotch v0.7.0's in-place wrappers (Mul_, Add_ …)
// store the handle libtorch returns in the receiver and drop nothing, so the receiver's
// previous handle leaks and keeps its storage alive (a temporary updated in place is never
// freed), and a parameter's handle changes under callers that hold copies of it. An _out op
// writing into the tensor itself (x.MulOut(x, y) == x.mul_(y)) leaves the receiver alone;
// the extra handle it returns is freed at once. Scalars enter as 0-dim tensors of the
// parameter's dtype, holding the float64 value rounded as libtorch rounds the Python
// numbers torch.optim passes (a 0-dim float64 tensor gives the same value, but libtorch
// then copies it to the parameter's dtype in every op: four extra ops each, about 3,000
// per mb2-ssd-lite step).

// coefs caches the 0-dim coefficient tensors of one optimizer, keyed by value. Entries not
// used during a step are freed at its end, so constants (momentum, betas…) live across
// steps while changing values (a scheduled lr, Adam's step size) do not pile up.
type coefs struct {
	device  gotch.Device
	entries map[coefKey]*coef
	tick    int64
}

// coefKey is a coefficient's value (its float64 bits) and dtype.
type coefKey struct {
	bits  uint64
	dtype gotch.DType
}

type coef struct {
	t    *ts.Tensor
	used int64
}

func newCoefs(device gotch.Device) *coefs {
	return &coefs{device: device, entries: map[coefKey]*coef{}}
}

// get returns the 0-dim tensor of dtype holding v; the cache owns it.
func (c *coefs) get(v float64, dtype gotch.DType) (*ts.Tensor, error) {
	key := coefKey{math.Float64bits(v), dtype}
	if e, ok := c.entries[key]; ok {
		e.used = c.tick
		return e.t, nil
	}
	s := ts.FloatScalar(v)
	t, err := ts.ScalarTensor(s, dtype, c.device)
	s.MustDrop()
	if err != nil {
		return nil, err
	}
	c.entries[key] = &coef{t: t, used: c.tick}
	return t, nil
}

// endStep frees the entries that the step now ending did not use.
func (c *coefs) endStep() {
	for k, e := range c.entries {
		if e.used != c.tick {
			e.t.MustDrop()
			delete(c.entries, k)
		}
	}
	c.tick++
}

// free frees every entry.
func (c *coefs) free() {
	for k, e := range c.entries {
		e.t.MustDrop()
		delete(c.entries, k)
	}
}

// ops runs the tensor operations of one parameter update. The first error stops every
// later operation (they become no-ops) and is returned by close, which also frees the
// temporaries.
type ops struct {
	err   error
	coefs *coefs
	dtype gotch.DType // the parameter's: the dtype of the coefficients
	temps *torch.Scope
}

func newOps(c *coefs, dtype gotch.DType) *ops {
	return &ops{coefs: c, dtype: dtype, temps: torch.NewScope()}
}

// close frees the temporaries and returns the first error.
func (o *ops) close() error {
	o.temps.Close()
	return o.err
}

// k returns the 0-dim tensor holding v (owned by the coefficient cache).
func (o *ops) k(v float64) *ts.Tensor {
	if o.err != nil {
		return nil
	}
	t, err := o.coefs.get(v, o.dtype)
	o.err = err
	return t
}

// tmp registers a new tensor as a temporary of this update and returns it.
func (o *ops) tmp(t *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		o.err = err
		return nil
	}
	return o.temps.T(t)
}

// keep takes a temporary out of the update's scope: the caller now owns it.
func (o *ops) keep(t *ts.Tensor) *ts.Tensor { return o.temps.Keep(t) }

// done frees the extra handle an _out op returns.
func (o *ops) done(t *ts.Tensor, err error) {
	if err != nil {
		o.err = err
		return
	}
	o.err = t.Drop()
}

// zerosLike returns a new zero tensor shaped like t, owned by the caller.
func (o *ops) zerosLike(t *ts.Tensor) *ts.Tensor {
	if o.err != nil {
		return nil
	}
	z, err := t.ZerosLike(false)
	o.err = err
	return z
}

// clone returns a new copy of t, owned by the caller.
func (o *ops) clone(t *ts.Tensor) *ts.Tensor {
	z := o.zerosLike(t)
	if z != nil {
		z.Copy_(t)
	}
	return z
}

// The operations returning a new temporary (freed by close unless kept).

func (o *ops) newMul(x, y *ts.Tensor) *ts.Tensor { // x*y
	if o.err != nil {
		return nil
	}
	return o.tmp(x.Mul(y, false))
}

func (o *ops) newAddcmul(x, t1, t2 *ts.Tensor) *ts.Tensor { // x + t1*t2
	if o.err != nil {
		return nil
	}
	return o.tmp(x.Addcmul(t1, t2, false))
}

func (o *ops) newSqrt(x *ts.Tensor) *ts.Tensor { // sqrt(x)
	if o.err != nil {
		return nil
	}
	return o.tmp(x.Sqrt(false))
}

// The in-place operations: dst is written, the others are read; dst may be an operand.

func (o *ops) mul(dst, x, y *ts.Tensor) { // dst = x*y
	if o.err == nil {
		o.done(x.MulOut(dst, y, false))
	}
}

func (o *ops) add(dst, x, y *ts.Tensor) { // dst = x+y
	if o.err == nil {
		o.done(x.AddOut(dst, y, false))
	}
}

func (o *ops) addcmul(dst, x, t1, t2 *ts.Tensor) { // dst = x + t1*t2
	if o.err == nil {
		o.done(x.AddcmulOut(dst, t1, t2, false))
	}
}

func (o *ops) addcdiv(dst, x, t1, t2 *ts.Tensor) { // dst = x + t1/t2
	if o.err == nil {
		o.done(x.AddcdivOut(dst, t1, t2, false))
	}
}

func (o *ops) sqrt(dst, x *ts.Tensor) { // dst = sqrt(x)
	if o.err == nil {
		o.done(x.SqrtOut(dst, false))
	}
}

func (o *ops) maximum(dst, x, y *ts.Tensor) { // dst = max(x, y)
	if o.err == nil {
		o.done(x.MaximumOut(dst, y, false))
	}
}
