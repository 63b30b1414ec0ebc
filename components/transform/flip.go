package transform

import (
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// FlipConfig configures "hflip", the reference's RandomMirror.
type FlipConfig struct {
	P float64 `hcl:"p,optional" doc:"probability of mirroring left-right (default 0.5, as the reference)"`
}

// Validate checks the options.
func (c *FlipConfig) Validate() error { return checkProbability("p", c.P) }

// mirrorBoxes mirrors boxes in an image of width w as the reference does: x becomes w - x
// (not w - 1 - x), so mirroring twice is the identity.
func mirrorBoxes(boxes [][4]float32, w int) {
	fw := float32(w)
	for i, b := range boxes {
		boxes[i][0], boxes[i][2] = fw-b[2], fw-b[0]
	}
}

// mirrorImage reverses the columns of a w-wide HWC image in place.
func mirrorImage(img []float32, w, h int) {
	for y := 0; y < h; y++ {
		row := img[y*w*3 : (y+1)*w*3]
		for i, j := 0, (w-1)*3; i < j; i, j = i+3, j-3 {
			row[i], row[j] = row[j], row[i]
			row[i+1], row[j+1] = row[j+1], row[i+1]
			row[i+2], row[j+2] = row[j+2], row[i+2]
		}
	}
}

// hflip is the "hflip" transform.
type hflip struct{ cfg FlipConfig }

func (t *hflip) Apply(s *Sample, rng *rand.Rand) error { return t.apply(s, rng) }

func (t *hflip) apply(s *Sample, r randSource) error {
	if err := s.check(); err != nil {
		return err
	}
	if chance(r, t.cfg.P) {
		mirrorImage(s.Image, s.W, s.H)
		mirrorBoxes(s.Boxes, s.W)
	}
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "hflip", Summary: "the reference's RandomMirror: mirror left-right",
		Config: func() any { return &FlipConfig{P: 0.5} }},
		func(cfg any) (Transform, error) { return &hflip{cfg: *registry.As[FlipConfig](cfg)}, nil })
}
