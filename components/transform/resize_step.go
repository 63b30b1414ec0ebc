package transform

import (
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// scaleBoxes scales boxes from a w x h image to ow x oh.
func scaleBoxes(boxes [][4]float32, w, h, ow, oh int) {
	sx, sy := float64(ow)/float64(w), float64(oh)/float64(h)
	for i, b := range boxes {
		boxes[i] = [4]float32{float32(float64(b[0]) * sx), float32(float64(b[1]) * sy),
			float32(float64(b[2]) * sx), float32(float64(b[3]) * sy)}
	}
}

// ResizeConfig configures "resize" (the reference's Resize: cv2.resize to size x size).
type ResizeConfig struct {
	Size  int  `hcl:"size,optional" doc:"output width and height in pixels (default 300)"`
	Uint8 bool `hcl:"uint8,optional" doc:"resize as OpenCV resizes an 8-bit image (values rounded to integers 0..255 first and after), as the reference's test transform does on decoded images (default false: float32, as in its training chain)"`
}

// Validate checks the options.
func (c *ResizeConfig) Validate() error { return checkSize(c.Size) }

// resize is the "resize" transform.
type resize struct{ cfg ResizeConfig }

func (t *resize) Apply(s *Sample, _ *rand.Rand) error {
	if err := s.check(); err != nil {
		return err
	}
	resizeSample(s, t.cfg.Size, t.cfg.Uint8, nil)
	return nil
}

// resizeSample resizes a sample's image and boxes to size x size, normalising with norm
// when it is not nil.
func resizeSample(s *Sample, size int, u8 bool, norm *affine) {
	v := wholeView(s.Image, s.W, s.H)
	rz := newResizer(s.W, s.H, size, size)
	if u8 {
		s.Image = rz.uint8(v, norm)
	} else {
		s.Image = rz.float(v, norm)
	}
	scaleBoxes(s.Boxes, s.W, s.H, size, size)
	s.W, s.H = size, size
}

func init() {
	Registry.Register(registry.Spec{Name: "resize",
		Summary: "the reference's Resize: bilinear resize to size x size (cv2.resize INTER_LINEAR), boxes scaled",
		Config:  func() any { return &ResizeConfig{Size: 300} }},
		func(cfg any) (Transform, error) { return &resize{cfg: *registry.As[ResizeConfig](cfg)}, nil })
}
