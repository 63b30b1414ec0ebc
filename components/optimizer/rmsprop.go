package optimizer

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// RMSpropConfig configures "rmsprop" (torch.optim.RMSprop).
type RMSpropConfig struct {
	LR          float64 `hcl:"lr,optional" doc:"base learning rate (default 0.01); groups without their own rate get it, and the schedule scales each group's rate"`
	Alpha       float64 `hcl:"alpha,optional" doc:"smoothing constant of the squared-gradient average, in [0, 1) (default 0.99)"`
	Eps         float64 `hcl:"eps,optional" doc:"added to the denominator (default 1e-8)"`
	WeightDecay float64 `hcl:"weight_decay,optional" doc:"L2 penalty added to the gradient, for groups that set none of their own (default 0)"`
	Momentum    float64 `hcl:"momentum,optional" doc:"momentum factor (default 0)"`
	Centered    bool    `hcl:"centered,optional" doc:"normalise by the estimated variance of the gradient instead of its second moment"`
}

// Validate checks the options.
func (c *RMSpropConfig) Validate() error {
	var alpha error
	if !(c.Alpha >= 0 && c.Alpha < 1) {
		alpha = fmt.Errorf("alpha must be in [0, 1), got %g", c.Alpha)
	}
	return errors.Join(alpha, nonNegative("lr", c.LR), nonNegative("eps", c.Eps),
		nonNegative("weight_decay", c.WeightDecay), nonNegative("momentum", c.Momentum))
}

// DefaultLR returns lr.
func (c *RMSpropConfig) DefaultLR() float64 { return c.LR }

// DefaultWeightDecay returns weight_decay.
func (c *RMSpropConfig) DefaultWeightDecay() float64 { return c.WeightDecay }

// rmsprop is torch.optim.RMSprop's update:
//
//	g = grad + wd·p
//	s = α·s + (1-α)·g²
//	avg = √s + eps      (centered: a = α·a + (1-α)·g, avg = √(s - a²) + eps)
//	momentum: buf = m·buf + g/avg, p = p - lr·buf;  else p = p - lr·g/avg
type rmsprop struct {
	RMSpropConfig
	gradAvg, buf int // slot indices, -1 when unused
}

func newRMSprop(c RMSpropConfig) *rmsprop {
	r := &rmsprop{RMSpropConfig: c, gradAvg: -1, buf: -1}
	n := 1
	if c.Centered {
		r.gradAvg, n = n, n+1
	}
	if c.Momentum > 0 {
		r.buf = n
	}
	return r
}

func (r *rmsprop) slots() []string {
	s := []string{"square_avg"}
	if r.gradAvg >= 0 {
		s = append(s, "grad_avg")
	}
	if r.buf >= 0 {
		s = append(s, "momentum_buffer")
	}
	return s
}

func (r *rmsprop) countsSteps() bool { return false }

func (r *rmsprop) update(o *ops, u *update) {
	st := u.state
	if st.t[0] == nil {
		for i := range st.t {
			st.t[i] = o.zerosLike(u.param)
		}
	}
	g := u.grad
	if u.wd != 0 {
		g = o.newAddcmul(u.grad, u.param, o.k(u.wd))
	}
	sq := st.t[0]
	scaled := o.newMul(g, o.k(1-r.Alpha))
	o.mul(sq, sq, o.k(r.Alpha))
	o.addcmul(sq, sq, g, scaled) // rounded as addcmul_(g, g, value=1-α)
	var avg *ts.Tensor
	if r.gradAvg >= 0 {
		ga := st.t[r.gradAvg]
		o.mul(ga, ga, o.k(r.Alpha))
		o.addcmul(ga, ga, g, o.k(1-r.Alpha))
		avg = o.newMul(ga, o.k(-1))
		o.addcmul(avg, sq, ga, avg) // s - a², rounded as s.addcmul(a, a, value=-1)
		o.sqrt(avg, avg)
	} else {
		avg = o.newSqrt(sq)
	}
	o.add(avg, avg, o.k(r.Eps))
	if r.buf >= 0 {
		buf := st.t[r.buf]
		o.mul(buf, buf, o.k(r.Momentum))
		o.addcdiv(buf, buf, g, avg)
		o.addcmul(u.param, u.param, buf, o.k(-u.lr))
		return
	}
	num := o.newMul(g, o.k(-u.lr))
	o.addcdiv(u.param, u.param, num, avg)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "rmsprop",
		Summary: "RMSprop (torch.optim.RMSprop)",
		Config:  func() any { return &RMSpropConfig{LR: 1e-2, Alpha: 0.99, Eps: 1e-8} },
	}, func(cfg any, groups []Group) (Optimizer, error) {
		c := registry.As[RMSpropConfig](cfg)
		return newEngine("rmsprop", newRMSprop(*c), groups)
	})
}
