package transform

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// PhotometricConfig configures the reference's PhotometricDistort: a brightness shift, then
// either [contrast, saturation, hue] or [saturation, hue, contrast] (50/50), then a random
// channel permutation. Each operation happens with probability p. Saturation and hue act in
// HSV space (OpenCV's float conversion; the reference converts to HSV and back even when
// neither applies).
type PhotometricConfig struct {
	P           float64   `hcl:"p,optional" doc:"probability of each operation (default 0.5, as the reference)"`
	Brightness  float64   `hcl:"brightness,optional" doc:"a delta uniform in [-brightness, brightness] is added to every channel (default 32)"`
	Contrast    []float64 `hcl:"contrast,optional" doc:"[lower, upper] of the factor that multiplies every channel (default [0.5, 1.5])"`
	Saturation  []float64 `hcl:"saturation,optional" doc:"[lower, upper] of the factor that multiplies the HSV saturation (default [0.5, 1.5])"`
	Hue         float64   `hcl:"hue,optional" doc:"a shift uniform in [-hue, hue] degrees is added to the HSV hue, wrapped into [0, 360] (default 18)"`
	ChannelSwap bool      `hcl:"channel_swap,optional" doc:"permute the RGB channels (one of the 6 orders, uniformly) with probability p (default true)"`
	Clip        bool      `hcl:"clip,optional" doc:"clamp values to [0, 255] after each operation. The reference does not (default false): brightness makes dark pixels negative, contrast and saturation push values above 255 or below 0"`
}

// DefaultPhotometric returns the reference's settings.
func DefaultPhotometric() PhotometricConfig {
	return PhotometricConfig{P: 0.5, Brightness: 32, Contrast: []float64{0.5, 1.5},
		Saturation: []float64{0.5, 1.5}, Hue: 18, ChannelSwap: true}
}

// Validate checks the ranges.
func (c *PhotometricConfig) Validate() error {
	var errs []error
	errs = append(errs, checkProbability("p", c.P), checkRange("contrast", c.Contrast), checkRange("saturation", c.Saturation))
	if !finiteAll(c.Brightness) || c.Brightness < 0 || c.Brightness > 255 {
		errs = append(errs, fmt.Errorf("brightness must be in [0, 255], got %g", c.Brightness))
	}
	if !finiteAll(c.Hue) || c.Hue < 0 || c.Hue > 360 {
		errs = append(errs, fmt.Errorf("hue must be in [0, 360], got %g", c.Hue))
	}
	return errors.Join(errs...)
}

// channelOrders are the reference's permutations: output channel c is input channel order[c].
var channelOrders = [6][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

// photoParams is one draw of the photometric distortion.
type photoParams struct {
	doBrightness, contrastFirst, doContrast, doSaturation, doHue bool
	brightness, contrast, saturation, hue                        float32
	swap                                                         int // index into channelOrders, -1 for none
	clip                                                         bool
}

// sample draws the parameters in the reference's order.
func (c *PhotometricConfig) sample(r randSource) photoParams {
	p := photoParams{swap: -1, clip: c.Clip}
	if chance(r, c.P) {
		p.doBrightness, p.brightness = true, float32(uniform(r, -c.Brightness, c.Brightness))
	}
	contrast := func() {
		if chance(r, c.P) {
			p.doContrast, p.contrast = true, float32(uniform(r, c.Contrast[0], c.Contrast[1]))
		}
	}
	p.contrastFirst = r.IntN(2) == 1
	if p.contrastFirst {
		contrast()
	}
	if chance(r, c.P) {
		p.doSaturation, p.saturation = true, float32(uniform(r, c.Saturation[0], c.Saturation[1]))
	}
	if chance(r, c.P) {
		p.doHue, p.hue = true, float32(uniform(r, -c.Hue, c.Hue))
	}
	if !p.contrastFirst {
		contrast()
	}
	if c.ChannelSwap && chance(r, c.P) {
		p.swap = r.IntN(len(channelOrders))
	}
	return p
}

func clamp255(v float32) float32 {
	return min(max(v, 0), 255)
}

// apply distorts the pixels px[0:3n] in place. Like the reference, it converts to HSV
// and back even when neither saturation nor hue changes (the round trip is not exactly
// the identity: it rounds, and it changes pixels that brightness made negative).
func (p *photoParams) apply(px []float32) {
	var order [3]int
	if p.swap >= 0 {
		order = channelOrders[p.swap]
	}
	for i := 0; i+2 < len(px); i += 3 {
		q := px[i : i+3 : i+3]
		r, g, b := q[0], q[1], q[2]
		if p.doBrightness {
			r, g, b = r+p.brightness, g+p.brightness, b+p.brightness
			if p.clip {
				r, g, b = clamp255(r), clamp255(g), clamp255(b)
			}
		}
		if p.doContrast && p.contrastFirst {
			r, g, b = r*p.contrast, g*p.contrast, b*p.contrast
			if p.clip {
				r, g, b = clamp255(r), clamp255(g), clamp255(b)
			}
		}
		h, s, v := rgbToHSV(r, g, b)
		if p.doSaturation {
			s *= p.saturation
		}
		if p.doHue {
			h += p.hue
			if h > 360 {
				h -= 360
			}
			if h < 0 {
				h += 360
			}
		}
		r, g, b = hsvToRGB(h, s, v)
		if p.clip {
			r, g, b = clamp255(r), clamp255(g), clamp255(b)
		}
		if p.doContrast && !p.contrastFirst {
			r, g, b = r*p.contrast, g*p.contrast, b*p.contrast
			if p.clip {
				r, g, b = clamp255(r), clamp255(g), clamp255(b)
			}
		}
		if p.swap >= 0 {
			c := [3]float32{r, g, b}
			r, g, b = c[order[0]], c[order[1]], c[order[2]]
		}
		q[0], q[1], q[2] = r, g, b
	}
}

// photometric is the "photometric_distort" transform.
type photometric struct{ cfg PhotometricConfig }

func (t *photometric) Apply(s *Sample, rng *rand.Rand) error { return t.apply(s, rng) }

func (t *photometric) apply(s *Sample, r randSource) error {
	if err := s.check(); err != nil {
		return err
	}
	p := t.cfg.sample(r)
	p.apply(s.Image)
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "photometric_distort",
		Summary: "the reference's PhotometricDistort: brightness, contrast, saturation, hue, channel swap",
		Config:  func() any { c := DefaultPhotometric(); return &c }},
		func(cfg any) (Transform, error) {
			return &photometric{cfg: *registry.As[PhotometricConfig](cfg)}, nil
		})
}
