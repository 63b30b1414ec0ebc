package scheduler

import "github.com/ssdrunner/ssdrunner/registry"

// ConstantConfig configures the "constant" schedule.
type ConstantConfig struct {
	Warmup      Warmup `hcl:"warmup,block" doc:"optional warmup ramp applied on top of the constant rate"`
	EpochOffset int    `hcl:"epoch_offset,optional" doc:"added to the epoch given to the schedule (default 0; no effect on a constant rate)"`
}

// Validate checks the options.
func (c *ConstantConfig) Validate() error { return common(c.Warmup, c.EpochOffset) }

// constant is the base rate.
type constant struct{}

func (constant) LR(base float64, _ Progress) float64 { return base }

func init() {
	Registry.Register(registry.Spec{
		Name:    "constant",
		Summary: "the base learning rate throughout (optionally after a warmup)",
		Config:  func() any { return &ConstantConfig{Warmup: defaultWarmup()} },
	}, func(cfg any) (Schedule, error) {
		c := registry.As[ConstantConfig](cfg)
		return finish(constant{}, c.Warmup, c.EpochOffset), nil
	})
}
