package transform

import (
	"errors"
	"math"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// affine is the normalisation (value - mean) / std applied as pixels are written.
type affine struct{ mean, std [3]float32 }

// recip returns 1/std per channel and whether it is exact (std a power of two, e.g. 128
// or 1), in which case multiplying by it equals dividing, bit for bit, and is faster.
func (a *affine) recip() (inv [3]float32, exact bool) {
	exact = true
	for c, s := range a.std {
		inv[c] = 1 / s
		if m, _ := math.Frexp(float64(s)); math.Abs(m) != 0.5 {
			exact = false
		}
	}
	return inv, exact
}

// value is channel c's normalised value of x, as apply computes it.
func (a *affine) value(c int, x float32) float32 {
	if inv, ok := a.recip(); ok {
		return (x - a.mean[c]) * inv[c]
	}
	return (x - a.mean[c]) / a.std[c]
}

// table is value for every 8-bit input, per channel (built once per transform).
func (a *affine) table() (t [3][256]float32) {
	for c := range t {
		for v := range t[c] {
			t[c][v] = a.value(c, float32(v))
		}
	}
	return t
}

// apply normalises an HWC image in place.
func (a *affine) apply(px []float32) {
	m0, m1, m2 := a.mean[0], a.mean[1], a.mean[2]
	if inv, ok := a.recip(); ok {
		for i := 0; i+2 < len(px); i += 3 {
			q := px[i : i+3 : i+3]
			q[0], q[1], q[2] = (q[0]-m0)*inv[0], (q[1]-m1)*inv[1], (q[2]-m2)*inv[2]
		}
		return
	}
	s0, s1, s2 := a.std[0], a.std[1], a.std[2]
	for i := 0; i+2 < len(px); i += 3 {
		q := px[i : i+3 : i+3]
		q[0], q[1], q[2] = (q[0]-m0)/s0, (q[1]-m1)/s1, (q[2]-m2)/s2
	}
}

// NormalizeConfig configures "normalize": (value - mean) / std per channel.
type NormalizeConfig struct {
	Mean []float64 `hcl:"mean,optional" doc:"per-channel (R, G, B) mean subtracted, 1 or 3 values (default [127, 127, 127])"`
	Std  []float64 `hcl:"std,optional" doc:"divisor applied after the mean, 1 or 3 values (default [128])"`
}

// Validate checks the options.
func (c *NormalizeConfig) Validate() error {
	_, err1 := perChannel("mean", c.Mean)
	_, err2 := stdChannels("std", c.Std)
	return errors.Join(err1, err2)
}

func (c *NormalizeConfig) affine() *affine {
	m, _ := perChannel("mean", c.Mean)
	s, _ := stdChannels("std", c.Std)
	return &affine{mean: m, std: s}
}

// normalize is the "normalize" transform.
type normalize struct{ a *affine }

func (t *normalize) Apply(s *Sample, _ *rand.Rand) error {
	if err := s.check(); err != nil {
		return err
	}
	t.a.apply(s.Image)
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "normalize",
		Summary: "subtract the mean and divide by std per channel (the reference's SubtractMeans and division)",
		Config:  func() any { return &NormalizeConfig{Mean: defaultMean(), Std: defaultStd()} }},
		func(cfg any) (Transform, error) {
			return &normalize{a: registry.As[NormalizeConfig](cfg).affine()}, nil
		})
}
