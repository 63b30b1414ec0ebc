package optimizer

import (
	"errors"
	"fmt"
	"math"

	"github.com/ssdrunner/ssdrunner/registry"
)

// AdamConfig configures "adam" (torch.optim.Adam) and "adamw" (torch.optim.AdamW).
type AdamConfig struct {
	LR          float64   `hcl:"lr,optional" doc:"base learning rate (default 0.001); groups without their own rate get it, and the schedule scales each group's rate"`
	Betas       []float64 `hcl:"betas,optional" doc:"decay rates of the running averages of the gradient and its square, each in [0, 1) (default [0.9, 0.999])"`
	Eps         float64   `hcl:"eps,optional" doc:"added to the denominator (default 1e-8)"`
	WeightDecay float64   `hcl:"weight_decay,optional" doc:"weight decay for groups that set none of their own (adam: L2 penalty added to the gradient, default 0; adamw: decoupled, p -= lr*weight_decay*p, default 0.01)"`
	Amsgrad     bool      `hcl:"amsgrad,optional" doc:"use the maximum of past squared-gradient averages (AMSGrad)"`
}

// betas returns the configured betas or the defaults.
func (c *AdamConfig) betas() (float64, float64) {
	if len(c.Betas) == 0 {
		return 0.9, 0.999
	}
	return c.Betas[0], c.Betas[1]
}

// Validate checks the options.
func (c *AdamConfig) Validate() error {
	var errs []error
	if len(c.Betas) != 0 && len(c.Betas) != 2 {
		errs = append(errs, fmt.Errorf("betas must hold 2 numbers, got %d", len(c.Betas)))
	} else {
		for i, b := range c.Betas {
			if !(b >= 0 && b < 1) {
				errs = append(errs, fmt.Errorf("betas[%d] must be in [0, 1), got %g", i, b))
			}
		}
	}
	errs = append(errs, nonNegative("lr", c.LR), nonNegative("eps", c.Eps), nonNegative("weight_decay", c.WeightDecay))
	return errors.Join(errs...)
}

// DefaultLR returns lr.
func (c *AdamConfig) DefaultLR() float64 { return c.LR }

// DefaultWeightDecay returns weight_decay.
func (c *AdamConfig) DefaultWeightDecay() float64 { return c.WeightDecay }

// adam is torch.optim.Adam's update (decoupled = false) or AdamW's (decoupled = true), at
// the parameter's step t:
//
//	adam:  g = grad + wd·p          adamw: p = p·(1 - lr·wd), g = grad
//	m = β1·m + (1-β1)·g
//	v = β2·v + (1-β2)·g²            (amsgrad: v̂ = max(v̂, v), used below instead of v)
//	p = p - lr/(1-β1^t) · m / (√v/√(1-β2^t) + eps)
type adam struct {
	AdamConfig
	decoupled bool
}

func (r *adam) slots() []string {
	if r.Amsgrad {
		return []string{"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
	}
	return []string{"exp_avg", "exp_avg_sq"}
}

func (r *adam) countsSteps() bool { return true }

func (r *adam) update(o *ops, u *update) {
	st := u.state
	if st.t[0] == nil {
		for i := range st.t {
			st.t[i] = o.zerosLike(u.param)
		}
	}
	b1, b2 := r.betas()
	g := u.grad
	if u.wd != 0 {
		if r.decoupled {
			o.mul(u.param, u.param, o.k(1-u.lr*u.wd))
		} else {
			g = o.newAddcmul(u.grad, u.param, o.k(u.wd))
		}
	}
	expAvg, expAvgSq := st.t[0], st.t[1]
	o.mul(expAvg, expAvg, o.k(b1))
	o.addcmul(expAvg, expAvg, g, o.k(1-b1))
	// v = β2·v + g·((1-β2)·g): the products are rounded as in addcmul_(g, g, value=1-β2).
	scaled := o.newMul(g, o.k(1-b2))
	o.mul(expAvgSq, expAvgSq, o.k(b2))
	o.addcmul(expAvgSq, expAvgSq, g, scaled)
	v := expAvgSq
	if r.Amsgrad {
		o.maximum(st.t[2], st.t[2], expAvgSq)
		v = st.t[2]
	}
	step := float64(st.step)
	stepSize := u.lr / (1 - math.Pow(b1, step))
	bc2Sqrt := math.Sqrt(1 - math.Pow(b2, step))
	denom := o.newSqrt(v)
	o.addcdiv(denom, o.k(r.Eps), denom, o.k(bc2Sqrt)) // denom = √v/√bc2 + eps
	num := o.newMul(expAvg, o.k(-stepSize))
	o.addcdiv(u.param, u.param, num, denom)
}

func init() {
	for _, v := range []struct {
		name, summary string
		decoupled     bool
		wd            float64
	}{
		{"adam", "Adam (torch.optim.Adam; weight decay as an L2 penalty in the gradient)", false, 0},
		{"adamw", "AdamW (torch.optim.AdamW; decoupled weight decay)", true, 0.01},
	} {
		v := v
		Registry.Register(registry.Spec{
			Name:    v.name,
			Summary: v.summary,
			Config:  func() any { return &AdamConfig{LR: 1e-3, Eps: 1e-8, WeightDecay: v.wd} },
		}, func(cfg any, groups []Group) (Optimizer, error) {
			c := registry.As[AdamConfig](cfg)
			return newEngine(v.name, &adam{AdamConfig: *c, decoupled: v.decoupled}, groups)
		})
	}
}
