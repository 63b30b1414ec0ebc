package optimizer

import (
	"errors"
	"fmt"

	"github.com/ssdrunner/ssdrunner/registry"
)

// SGDConfig configures "sgd" (torch.optim.SGD).
type SGDConfig struct {
	LR          float64 `hcl:"lr" doc:"base learning rate; groups without their own rate get it, and the schedule scales each group's rate"`
	Momentum    float64 `hcl:"momentum,optional" doc:"momentum factor (default 0, like torch.optim.SGD; the reference trains with 0.9)"`
	Dampening   float64 `hcl:"dampening,optional" doc:"dampening of the momentum (default 0)"`
	WeightDecay float64 `hcl:"weight_decay,optional" doc:"L2 penalty added to the gradient, for groups that set none of their own (default 0)"`
	Nesterov    bool    `hcl:"nesterov,optional" doc:"Nesterov momentum (needs momentum > 0 and dampening 0)"`
}

// Validate checks the options.
func (c *SGDConfig) Validate() error {
	return errors.Join(
		nonNegative("lr", c.LR), nonNegative("momentum", c.Momentum),
		nonNegative("dampening", c.Dampening), nonNegative("weight_decay", c.WeightDecay),
		func() error {
			if c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0) {
				return fmt.Errorf("nesterov needs momentum > 0 and dampening = 0 (momentum %g, dampening %g)", c.Momentum, c.Dampening)
			}
			return nil
		}())
}

// DefaultLR returns lr.
func (c *SGDConfig) DefaultLR() float64 { return c.LR }

// DefaultWeightDecay returns weight_decay.
func (c *SGDConfig) DefaultWeightDecay() float64 { return c.WeightDecay }

func nonNegative(name string, v float64) error {
	if !(v >= 0) {
		return fmt.Errorf("%s must be >= 0, got %g", name, v)
	}
	return nil
}

// sgd is torch.optim.SGD's update:
//
//	d = grad + wd·p
//	buf = d (first step), else buf = momentum·buf + (1-dampening)·d
//	d = d + momentum·buf (nesterov), else d = buf
//	p = p - lr·d
type sgd struct{ SGDConfig }

func (r *sgd) slots() []string {
	if r.Momentum == 0 {
		return nil
	}
	return []string{"momentum_buffer"}
}

func (r *sgd) countsSteps() bool { return false }

func (r *sgd) update(o *ops, u *update) {
	d := u.grad
	if u.wd != 0 {
		d = o.newAddcmul(u.grad, u.param, o.k(u.wd))
	}
	if m := r.Momentum; m != 0 {
		buf := u.state.t[0]
		switch {
		case buf == nil && d == u.grad:
			buf = o.clone(d)
			u.state.t[0] = buf
		case buf == nil:
			buf = o.keep(d) // d is our own temporary: it becomes the buffer
			u.state.t[0] = buf
		case r.Dampening == 0:
			o.mul(buf, buf, o.k(m))
			o.add(buf, buf, d)
		default:
			o.mul(buf, buf, o.k(m))
			o.addcmul(buf, buf, d, o.k(1-r.Dampening))
		}
		if r.Nesterov {
			d = o.newAddcmul(d, buf, o.k(m))
		} else {
			d = buf
		}
	}
	o.addcmul(u.param, u.param, d, o.k(-u.lr))
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "sgd",
		Summary: "stochastic gradient descent with optional (Nesterov) momentum (torch.optim.SGD)",
		Config:  func() any { return &SGDConfig{} },
	}, func(cfg any, groups []Group) (Optimizer, error) {
		c := registry.As[SGDConfig](cfg)
		return newEngine("sgd", &sgd{*c}, groups)
	})
}
