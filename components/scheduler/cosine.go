package scheduler

import (
	"fmt"
	"math"

	"github.com/ssdrunner/ssdrunner/registry"
)

// CosineConfig configures the "cosine" schedule (PyTorch's CosineAnnealingLR).
type CosineConfig struct {
	TMax        float64 `hcl:"t_max" doc:"half period in epochs: the learning rate reaches eta_min at epoch t_max (and rises again after it, like PyTorch)"`
	EtaMin      float64 `hcl:"eta_min,optional" doc:"minimum learning rate (default 0)"`
	PerStep     bool    `hcl:"per_step,optional" doc:"false (default): constant within an epoch, as the reference train_ssd.py; true: smooth, t = epoch + step/steps_per_epoch"`
	Warmup      Warmup  `hcl:"warmup,block" doc:"optional warmup ramp applied on top of the schedule"`
	EpochOffset int     `hcl:"epoch_offset,optional" doc:"added to the epoch given to the schedule; 0 (default) is correct. The reference train_ssd.py calls scheduler.step() at the start of each epoch, so its epoch e trains with the value at e+1: epoch_offset = 1 reproduces that. Warmup is not shifted"`
}

// Validate checks the options.
func (c *CosineConfig) Validate() error {
	if !(c.TMax > 0) {
		return fmt.Errorf("t_max must be > 0, got %g", c.TMax)
	}
	if c.EtaMin < 0 {
		return fmt.Errorf("eta_min must be >= 0, got %g", c.EtaMin)
	}
	return common(c.Warmup, c.EpochOffset)
}

// cosine is eta_min + (base-eta_min)·(1+cos(π·t/t_max))/2.
type cosine struct {
	tMax, etaMin float64
	perStep      bool
}

func (s cosine) LR(base float64, p Progress) float64 {
	t := float64(p.Epoch)
	if s.perStep {
		t = p.Epochs()
	}
	return s.etaMin + (base-s.etaMin)*(1+math.Cos(math.Pi*t/s.tMax))/2
}

func init() {
	Registry.Register(registry.Spec{
		Name:    "cosine",
		Summary: "cosine annealing from the base rate to eta_min over t_max epochs (PyTorch CosineAnnealingLR)",
		Config:  func() any { return &CosineConfig{Warmup: defaultWarmup()} },
	}, func(cfg any) (Schedule, error) {
		c := registry.As[CosineConfig](cfg)
		return finish(cosine{tMax: c.TMax, etaMin: c.EtaMin, perStep: c.PerStep}, c.Warmup, c.EpochOffset), nil
	})
}
