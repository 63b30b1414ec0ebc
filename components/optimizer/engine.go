package optimizer

import (
	"errors"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// rule is one optimizer's update formula; engine does the rest (groups, gradients, state
// bookkeeping, saving and loading).
type rule interface {
	// slots names the state tensors kept per parameter, as State names them.
	slots() []string
	// countsSteps reports whether a per-parameter step count is kept (and saved as "step").
	countsSteps() bool
	// update applies one step to u.param. u.state.t[i] (slot i) is nil before the first
	// update of the parameter: update creates it. u.state.step was already incremented.
	update(o *ops, u *update)
}

// update is what a rule sees of one parameter during a step.
type update struct {
	param, grad *ts.Tensor
	state       *paramState
	lr, wd      float64
}

// paramState is the state of one parameter.
type paramState struct {
	t    []*ts.Tensor // one per slot; nil until the parameter's first update
	step int64
}

func (s *paramState) started() bool { return s.step > 0 || (len(s.t) > 0 && s.t[0] != nil) }

func (s *paramState) free() {
	for i, t := range s.t {
		if t != nil {
			t.MustDrop()
			s.t[i] = nil
		}
	}
	s.step = 0
}

type group struct {
	name   string
	params []*ts.Tensor
	lr, wd float64
	state  []paramState
}

// engine implements Optimizer around a rule.
type engine struct {
	kind   string
	rule   rule
	groups []group
	coefs  *coefs
	closed bool
}

// newEngine checks the groups and returns an optimizer applying r to them.
func newEngine(kind string, r rule, groups []Group) (*engine, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("%s: no parameter groups", kind)
	}
	e := &engine{kind: kind, rule: r}
	var device gotch.Device
	seen := map[uintptr]string{}
	total := 0
	for gi, g := range groups {
		where := fmt.Sprintf("%s: group %d (%q)", kind, gi, g.Name)
		if !(g.LR >= 0) || math.IsInf(g.LR, 0) {
			return nil, fmt.Errorf("%s: learning rate must be >= 0, got %g", where, g.LR)
		}
		if !(g.WeightDecay >= 0) || math.IsInf(g.WeightDecay, 0) {
			return nil, fmt.Errorf("%s: weight decay must be >= 0, got %g", where, g.WeightDecay)
		}
		for pi, p := range g.Params {
			if p == nil {
				return nil, fmt.Errorf("%s: parameter %d is nil", where, pi)
			}
			if ok, err := p.Defined(); err != nil || !ok {
				return nil, fmt.Errorf("%s: parameter %d is an undefined tensor", where, pi)
			}
			// (gotch's IsFloatingPoint misreads libtorch's answer; the dtype is reliable.)
			if dt := p.DType(); dt != gotch.Float && dt != gotch.Double {
				return nil, fmt.Errorf("%s: parameter %d has dtype %v; only float32 and float64 parameters can be optimized", where, pi, p.DType())
			}
			d, err := p.Device()
			if err != nil {
				return nil, fmt.Errorf("%s: parameter %d: %w", where, pi, err)
			}
			if total == 0 {
				device = d
			} else if d != device {
				return nil, fmt.Errorf("%s: parameter %d is on %v, the others on %v", where, pi, d, device)
			}
			total++
			if p.Numel() == 0 {
				continue
			}
			ptr, err := p.DataPtr()
			if err != nil {
				return nil, fmt.Errorf("%s: parameter %d: %w", where, pi, err)
			}
			here := fmt.Sprintf("group %d (%q) parameter %d", gi, g.Name, pi)
			if prev, dup := seen[uintptr(ptr)]; dup {
				return nil, fmt.Errorf("%s: %s is the same tensor as %s; a parameter may appear only once", kind, here, prev)
			}
			seen[uintptr(ptr)] = here
		}
		st := make([]paramState, len(g.Params))
		for i := range st {
			st[i].t = make([]*ts.Tensor, len(r.slots()))
		}
		e.groups = append(e.groups, group{
			name: g.Name, params: append([]*ts.Tensor(nil), g.Params...),
			lr: g.LR, wd: g.WeightDecay, state: st,
		})
	}
	if total == 0 {
		return nil, fmt.Errorf("%s: the parameter groups hold no parameters", kind)
	}
	e.coefs = newCoefs(device)
	return e, nil
}

func (e *engine) group(i int) *group {
	if i < 0 || i >= len(e.groups) {
		panic(fmt.Sprintf("%s: group %d out of range (the optimizer has %d groups)", e.kind, i, len(e.groups)))
	}
	return &e.groups[i]
}

// SetLR sets group i's learning rate. It panics when i is out of range (a programming
// error); a negative rate makes the next Step fail.
func (e *engine) SetLR(i int, lr float64) { e.group(i).lr = lr }

// LR returns group i's learning rate. It panics when i is out of range.
func (e *engine) LR(i int) float64 { return e.group(i).lr }

// ZeroGrad zeroes every defined gradient in place (torch 1.13's zero_grad() default,
// set_to_none=False). Gradients that were never defined stay undefined.
func (e *engine) ZeroGrad() {
	for _, g := range e.groups {
		for _, p := range g.params {
			grad := p.MustGrad(false)
			if grad.MustDefined() {
				// Zero_ replaces grad's handle with a new one: free the old one too.
				old := *grad
				grad.MustZero_()
				old.MustDrop()
			}
			grad.MustDrop()
		}
	}
}

// ClearGrad sets every gradient to none (zero_grad(set_to_none=True)).
func (e *engine) ClearGrad() {
	for _, g := range e.groups {
		for _, p := range g.params {
			if err := torch.ClearGrad(p); err != nil {
				panic(err) // a parameter that is not a tensor: a programming error
			}
		}
	}
}

// Step applies one update to every parameter whose gradient is defined, with gradient
// tracking off.
func (e *engine) Step() (err error) {
	if e.closed {
		return fmt.Errorf("%s: Step: %w", e.kind, errClosed)
	}
	for i, g := range e.groups {
		if !(g.lr >= 0) || math.IsInf(g.lr, 0) {
			return fmt.Errorf("%s: group %d (%q): learning rate must be >= 0, got %g", e.kind, i, g.name, g.lr)
		}
	}
	// torch.NoGrad keeps the goroutine on its OS thread while the mode is off (libtorch's
	// grad mode is per thread) and restores the previous mode, also on a panic.
	var stepErr error
	err = torch.NoGrad(func() error {
		defer e.coefs.endStep()
		for gi := range e.groups {
			g := &e.groups[gi]
			for pi, p := range g.params {
				if err := e.stepParam(g, p, &g.state[pi]); err != nil {
					stepErr = fmt.Errorf("%s: group %d (%q) parameter %d: %w", e.kind, gi, g.name, pi, err)
					return stepErr
				}
			}
		}
		return nil
	})
	if err != nil && err != stepErr {
		return fmt.Errorf("%s: %w", e.kind, err)
	}
	return err
}

func (e *engine) stepParam(g *group, p *ts.Tensor, st *paramState) error {
	grad, err := p.Grad(false)
	if err != nil {
		return err
	}
	defer grad.MustDrop()
	if ok, err := grad.Defined(); err != nil || !ok {
		return err
	}
	st.step++
	o := newOps(e.coefs, p.DType())
	e.rule.update(o, &update{param: p, grad: grad, state: st, lr: g.lr, wd: g.wd})
	return o.close()
}

// Close frees the optimizer's state and coefficients. It may be called more than once.
func (e *engine) Close() {
	for gi := range e.groups {
		for pi := range e.groups[gi].state {
			e.groups[gi].state[pi].free()
		}
	}
	if e.coefs != nil {
		e.coefs.free()
	}
	e.closed = true
}

var errClosed = errors.New("the optimizer is closed")
