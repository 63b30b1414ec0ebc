package scheduler

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/registry"
)

// MultiStepConfig configures the "multi_step" schedule (PyTorch's MultiStepLR).
type MultiStepConfig struct {
	Milestones  []int   `hcl:"milestones" doc:"epochs at which the rate is multiplied by gamma; strictly increasing, > 0"`
	Gamma       float64 `hcl:"gamma,optional" doc:"factor applied at each milestone (default 0.1)"`
	Warmup      Warmup  `hcl:"warmup,block" doc:"optional warmup ramp applied on top of the schedule"`
	EpochOffset int     `hcl:"epoch_offset,optional" doc:"added to the epoch given to the schedule; 0 (default) is correct. The reference train_ssd.py calls scheduler.step() at the start of each epoch, so its epoch e trains with the value at e+1: epoch_offset = 1 reproduces that. Warmup is not shifted"`
}

// Validate checks the options.
func (c *MultiStepConfig) Validate() error {
	if len(c.Milestones) == 0 {
		return fmt.Errorf("milestones must list at least one epoch")
	}
	for i, m := range c.Milestones {
		if m <= 0 {
			return fmt.Errorf("milestones[%d] must be > 0, got %d", i, m)
		}
		if i > 0 && m <= c.Milestones[i-1] {
			return fmt.Errorf("milestones must be strictly increasing: milestones[%d] = %d follows %d", i, m, c.Milestones[i-1])
		}
	}
	if err := checkGamma(c.Gamma); err != nil {
		return err
	}
	return common(c.Warmup, c.EpochOffset)
}

func checkGamma(g float64) error {
	if !(g > 0) {
		return fmt.Errorf("gamma must be > 0, got %g", g)
	}
	return nil
}

// decay multiplies base by gamma n times, in the order PyTorch's recursive schedulers do.
func decay(base, gamma float64, n int) float64 {
	for ; n > 0; n-- {
		base *= gamma
	}
	return base
}

// multiStep is base·gamma^(number of milestones <= epoch).
type multiStep struct {
	milestones []int
	gamma      float64
}

func (s multiStep) LR(base float64, p Progress) float64 {
	n := 0
	for _, m := range s.milestones {
		if m <= p.Epoch {
			n++
		}
	}
	return decay(base, s.gamma, n)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "multi_step",
		Summary: "multiply the rate by gamma at each milestone epoch (PyTorch MultiStepLR)",
		Config:  func() any { return &MultiStepConfig{Gamma: 0.1, Warmup: defaultWarmup()} },
	}, func(cfg any) (Schedule, error) {
		c := registry.As[MultiStepConfig](cfg)
		ms := append([]int(nil), c.Milestones...)
		return finish(multiStep{milestones: ms, gamma: c.Gamma}, c.Warmup, c.EpochOffset), nil
	})
}
