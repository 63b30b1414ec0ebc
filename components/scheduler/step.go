package scheduler

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/registry"
)

// StepConfig configures the "step" schedule (PyTorch's StepLR).
type StepConfig struct {
	StepSize    int     `hcl:"step_size" doc:"period in epochs: the rate is multiplied by gamma every step_size epochs; > 0"`
	Gamma       float64 `hcl:"gamma,optional" doc:"factor applied every step_size epochs (default 0.1)"`
	Warmup      Warmup  `hcl:"warmup,block" doc:"optional warmup ramp applied on top of the schedule"`
	EpochOffset int     `hcl:"epoch_offset,optional" doc:"added to the epoch given to the schedule; 0 (default) is correct. The reference train_ssd.py calls scheduler.step() at the start of each epoch, so its epoch e trains with the value at e+1: epoch_offset = 1 reproduces that. Warmup is not shifted"`
}

// Validate checks the options.
func (c *StepConfig) Validate() error {
	if c.StepSize <= 0 {
		return fmt.Errorf("step_size must be > 0, got %d", c.StepSize)
	}
	if err := checkGamma(c.Gamma); err != nil {
		return err
	}
	return common(c.Warmup, c.EpochOffset)
}

// stepDecay is base·gamma^⌊epoch/step_size⌋.
type stepDecay struct {
	size  int
	gamma float64
}

func (s stepDecay) LR(base float64, p Progress) float64 {
	return decay(base, s.gamma, max(p.Epoch, 0)/s.size)
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "step",
		Summary: "multiply the rate by gamma every step_size epochs (PyTorch StepLR)",
		Config:  func() any { return &StepConfig{Gamma: 0.1, Warmup: defaultWarmup()} },
	}, func(cfg any) (Schedule, error) {
		c := registry.As[StepConfig](cfg)
		return finish(stepDecay{size: c.StepSize, gamma: c.Gamma}, c.Warmup, c.EpochOffset), nil
	})
}
