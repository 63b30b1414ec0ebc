package transform

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// ExpandOptions are the zoom-out settings shared by the "expand" step and the "ssd" preset
// (whose fill colour is its mean).
type ExpandOptions struct {
	P        float64 `hcl:"p,optional" doc:"probability of zooming out (default 0.5, as the reference)"`
	MaxRatio float64 `hcl:"max_ratio,optional" doc:"the canvas is ratio times the image's width and height, ratio uniform in [1, max_ratio] (default 4)"`
}

// DefaultExpand returns the reference's settings.
func DefaultExpand() ExpandOptions { return ExpandOptions{P: 0.5, MaxRatio: 4} }

// Validate checks the options.
func (o *ExpandOptions) Validate() error {
	err := checkProbability("p", o.P)
	if !finiteAll(o.MaxRatio) || o.MaxRatio < 1 || o.MaxRatio > 16 {
		err = errors.Join(err, fmt.Errorf("max_ratio must be in [1, 16], got %g", o.MaxRatio))
	}
	return err
}

// ExpandConfig configures the "expand" step: the reference's Expand, which places the image
// at a random position on a larger canvas filled with a colour (the data mean).
type ExpandConfig struct {
	P        float64   `hcl:"p,optional" doc:"probability of zooming out (default 0.5, as the reference)"`
	MaxRatio float64   `hcl:"max_ratio,optional" doc:"the canvas is ratio times the image's width and height, ratio uniform in [1, max_ratio] (default 4)"`
	Mean     []float64 `hcl:"mean,optional" doc:"fill colour of the canvas, 1 or 3 values (R, G, B); the reference fills with the data mean (default [127, 127, 127])"`
}

// Validate checks the options.
func (c *ExpandConfig) Validate() error {
	o := ExpandOptions{P: c.P, MaxRatio: c.MaxRatio}
	_, err := perChannel("mean", c.Mean)
	return errors.Join(o.Validate(), err)
}

// expandParams is one draw of the zoom-out: a canvas of cw x ch with the image's top-left
// corner at (ox, oy).
type expandParams struct {
	apply          bool
	cw, ch, ox, oy int
}

// sample draws as the reference's Expand: the zoom-out happens when randint(2) is 0.
func (o *ExpandOptions) sample(r randSource, w, h int) expandParams {
	if chance(r, 1-o.P) {
		return expandParams{cw: w, ch: h}
	}
	ratio := uniform(r, 1, o.MaxRatio)
	left := uniform(r, 0, float64(w)*ratio-float64(w))
	top := uniform(r, 0, float64(h)*ratio-float64(h))
	p := expandParams{apply: true, cw: int(float64(w) * ratio), ch: int(float64(h) * ratio), ox: int(left), oy: int(top)}
	// The reference's slice assignment fails if rounding ever pushed the image off the
	// canvas; keep it inside instead.
	p.ox, p.oy = min(p.ox, p.cw-w), min(p.oy, p.ch-h)
	return p
}

// shiftBoxes moves boxes by (dx, dy).
func shiftBoxes(boxes [][4]float32, dx, dy int) {
	fx, fy := float32(dx), float32(dy)
	for i := range boxes {
		boxes[i][0] += fx
		boxes[i][1] += fy
		boxes[i][2] += fx
		boxes[i][3] += fy
	}
}

// expand is the "expand" transform.
type expand struct {
	opts ExpandOptions
	fill [3]float32
}

func (t *expand) Apply(s *Sample, rng *rand.Rand) error { return t.apply(s, rng) }

func (t *expand) apply(s *Sample, r randSource) error {
	if err := s.check(); err != nil {
		return err
	}
	p := t.opts.sample(r, s.W, s.H)
	if !p.apply {
		return nil
	}
	canvas := make([]float32, p.cw*p.ch*3)
	for i := 0; i < len(canvas); i += 3 {
		canvas[i], canvas[i+1], canvas[i+2] = t.fill[0], t.fill[1], t.fill[2]
	}
	for y := 0; y < s.H; y++ {
		copy(canvas[((p.oy+y)*p.cw+p.ox)*3:], s.Image[y*s.W*3:(y+1)*s.W*3])
	}
	shiftBoxes(s.Boxes, p.ox, p.oy)
	s.Image, s.W, s.H = canvas, p.cw, p.ch
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "expand",
		Summary: "the reference's Expand: zoom out onto a canvas up to max_ratio times larger, filled with the mean",
		Config: func() any {
			d := DefaultExpand()
			return &ExpandConfig{P: d.P, MaxRatio: d.MaxRatio, Mean: defaultMean()}
		}},
		func(cfg any) (Transform, error) {
			c := registry.As[ExpandConfig](cfg)
			fill, err := perChannel("mean", c.Mean)
			if err != nil {
				return nil, err
			}
			return &expand{opts: ExpandOptions{P: c.P, MaxRatio: c.MaxRatio}, fill: fill}, nil
		})
}
