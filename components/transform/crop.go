package transform

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// CropConfig configures "min_iou_crop", the reference's RandomSampleCrop.
//
// Each time, a mode is chosen uniformly among: keep the whole image (whole_image), one per
// min_ious value, and an unconstrained random patch (random_patch). For a crop mode, up to
// max_trials rectangles are drawn (width and height uniform in [min_scale, max_scale] times
// the image's, height/width within [min_aspect, max_aspect]). A rectangle is accepted when
// it satisfies the IoU constraint and the centre of at least one box lies strictly inside
// it; the boxes whose centres lie inside are kept, clipped to it and moved into its
// coordinates (boxes left with no area are dropped). When no trial succeeds, a new mode is
// chosen. An image without boxes is never cropped.
//
// The IoU constraint: the reference's test `overlap.min() < min_iou and max_iou <
// overlap.max()` can never be true (max_iou is +inf), so it accepts any rectangle
// whatever min_iou was drawn (its issue tracker, and ssd.pytorch's issues #68 and #119,
// report this). By default the constraint is applied as ssd.pytorch intended it
// (constraint "all", `or` in that test): every box must have IoU >= min_iou with the
// rectangle. constraint "any" is the original Caffe SSD's rule: at least one box must.
// reference_bug = true reproduces the reference.
type CropConfig struct {
	MinIoUs          []float64 `hcl:"min_ious,optional" doc:"minimum-IoU modes (default [0.1, 0.3, 0.7, 0.9], the reference's; the SSD paper also has 0.5)"`
	WholeImage       bool      `hcl:"whole_image,optional" doc:"include the mode that keeps the whole image (default true)"`
	RandomPatch      bool      `hcl:"random_patch,optional" doc:"include the mode with no IoU constraint (default true)"`
	MinScale         float64   `hcl:"min_scale,optional" doc:"smallest crop side as a fraction of the image's (default 0.3)"`
	MaxScale         float64   `hcl:"max_scale,optional" doc:"largest crop side as a fraction of the image's (default 1)"`
	MinAspect        float64   `hcl:"min_aspect,optional" doc:"smallest crop height/width (default 0.5)"`
	MaxAspect        float64   `hcl:"max_aspect,optional" doc:"largest crop height/width (default 2)"`
	MaxTrials        int       `hcl:"max_trials,optional" doc:"rectangles drawn per mode before another mode is chosen (default 50)"`
	Constraint       string    `hcl:"constraint,optional" doc:"\"all\": every box has IoU >= min_iou with the crop (ssd.pytorch's intent, default); \"any\": at least one box does (Caffe SSD)"`
	ReferenceBug     bool      `hcl:"reference_bug,optional" doc:"true reproduces the reference, whose IoU test never rejects a crop (default false)"`
	ReferenceOffsets bool      `hcl:"reference_offsets,optional" doc:"draw the crop's left and top as the reference: numpy's uniform(W-w) means low=W-w, high=1, so left is uniform between 1 and W-w (default true); false draws uniformly in [0, W-w]"`
}

// DefaultCrop returns the reference's settings with the IoU constraint applied.
func DefaultCrop() CropConfig {
	return CropConfig{MinIoUs: []float64{0.1, 0.3, 0.7, 0.9}, WholeImage: true, RandomPatch: true,
		MinScale: 0.3, MaxScale: 1, MinAspect: 0.5, MaxAspect: 2, MaxTrials: 50, Constraint: "all",
		ReferenceOffsets: true}
}

// Validate checks the options.
func (c *CropConfig) Validate() error {
	var errs []error
	for i, v := range c.MinIoUs {
		if !finiteAll(v) || v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("min_ious[%d] must be in [0, 1], got %g", i, v))
		}
	}
	if len(c.MinIoUs) == 0 && !c.WholeImage && !c.RandomPatch {
		errs = append(errs, errors.New("no crop mode: set min_ious, whole_image or random_patch"))
	}
	if !finiteAll(c.MinScale, c.MaxScale) || c.MinScale <= 0 || c.MaxScale > 1 || c.MinScale > c.MaxScale {
		errs = append(errs, fmt.Errorf("need 0 < min_scale <= max_scale <= 1, got %g and %g", c.MinScale, c.MaxScale))
	}
	if !finiteAll(c.MinAspect, c.MaxAspect) || c.MinAspect <= 0 || c.MinAspect > c.MaxAspect {
		errs = append(errs, fmt.Errorf("need 0 < min_aspect <= max_aspect, got %g and %g", c.MinAspect, c.MaxAspect))
	}
	if c.MaxTrials < 1 {
		errs = append(errs, fmt.Errorf("max_trials must be >= 1, got %d", c.MaxTrials))
	}
	if c.Constraint != "all" && c.Constraint != "any" {
		errs = append(errs, fmt.Errorf("constraint must be \"all\" or \"any\", got %q", c.Constraint))
	}
	return errors.Join(errs...)
}

// cropMode is one of the modes chosen from.
type cropMode struct {
	whole  bool
	minIoU float64 // -Inf for the random patch
}

// modes lists the modes in the reference's order: whole image, the IoU modes, random patch.
func (c *CropConfig) modes() []cropMode {
	var m []cropMode
	if c.WholeImage {
		m = append(m, cropMode{whole: true})
	}
	for _, v := range c.MinIoUs {
		m = append(m, cropMode{minIoU: v})
	}
	if c.RandomPatch {
		m = append(m, cropMode{minIoU: math.Inf(-1)})
	}
	return m
}

// maxModeRounds bounds the mode choices of one sample. The reference loops until a mode
// succeeds; with its whole-image mode among 6 the chance of reaching this bound is 1e-8,
// and without it (or with unsatisfiable modes) the image is left uncropped instead.
const maxModeRounds = 100

// cropParams is the chosen rectangle in the current image (apply false: no crop).
type cropParams struct {
	apply      bool
	x0, y0     int
	x1, y1     int
	boxes      [][4]float32
	labels     []int
	mode       int // index of the chosen mode in modes(), for statistics
	modeRounds int // modes drawn
}

// iou is the reference's jaccard_numpy of one box and an integer rectangle.
func iou(b [4]float32, x0, y0, x1, y1 int) float64 {
	iw := math.Min(float64(b[2]), float64(x1)) - math.Max(float64(b[0]), float64(x0))
	ih := math.Min(float64(b[3]), float64(y1)) - math.Max(float64(b[1]), float64(y0))
	inter := math.Max(iw, 0) * math.Max(ih, 0)
	areaA := float64((b[2] - b[0]) * (b[3] - b[1]))
	areaB := float64((x1 - x0) * (y1 - y0))
	return inter / (areaA + areaB - inter)
}

// satisfied applies the IoU constraint of a mode to a rectangle.
func (c *CropConfig) satisfied(boxes [][4]float32, minIoU float64, x0, y0, x1, y1 int) bool {
	if c.ReferenceBug || math.IsInf(minIoU, -1) {
		return true
	}
	if c.Constraint == "any" {
		for _, b := range boxes {
			if iou(b, x0, y0, x1, y1) >= minIoU {
				return true
			}
		}
		return false
	}
	for _, b := range boxes {
		if iou(b, x0, y0, x1, y1) < minIoU {
			return false
		}
	}
	return true
}

// sample draws as the reference's RandomSampleCrop on a w x h image.
func (c *CropConfig) sample(r randSource, w, h int, boxes [][4]float32, labels []int) cropParams {
	if len(boxes) == 0 {
		return cropParams{}
	}
	modes := c.modes()
	fw, fh := float64(w), float64(h)
	for round := 1; round <= maxModeRounds; round++ {
		mi := r.IntN(len(modes))
		mode := modes[mi]
		if mode.whole {
			return cropParams{mode: mi, modeRounds: round}
		}
		for range c.MaxTrials {
			cw := uniform(r, c.MinScale*fw, c.MaxScale*fw)
			ch := uniform(r, c.MinScale*fh, c.MaxScale*fh)
			if ch/cw < c.MinAspect || ch/cw > c.MaxAspect {
				continue
			}
			var left, top float64
			if c.ReferenceOffsets {
				left, top = uniform(r, fw-cw, 1), uniform(r, fh-ch, 1)
			} else {
				left, top = uniform(r, 0, fw-cw), uniform(r, 0, fh-ch)
			}
			x0, y0, x1, y1 := int(left), int(top), int(left+cw), int(top+ch)
			if x1 <= x0 || y1 <= y0 || !c.satisfied(boxes, mode.minIoU, x0, y0, x1, y1) {
				continue
			}
			kb, kl := cropBoxes(boxes, labels, x0, y0, x1, y1)
			if len(kb) == 0 {
				continue
			}
			return cropParams{apply: true, x0: x0, y0: y0, x1: x1, y1: y1, boxes: kb, labels: kl, mode: mi, modeRounds: round}
		}
	}
	return cropParams{mode: -1, modeRounds: maxModeRounds}
}

// cropBoxes keeps the boxes whose centre lies strictly inside the rectangle, clipped to it
// and moved into its coordinates, and drops those left without area.
func cropBoxes(boxes [][4]float32, labels []int, x0, y0, x1, y1 int) ([][4]float32, []int) {
	fx0, fy0, fx1, fy1 := float32(x0), float32(y0), float32(x1), float32(y1)
	var kb [][4]float32
	var kl []int
	for i, b := range boxes {
		cx, cy := (b[0]+b[2])/2, (b[1]+b[3])/2
		if !(fx0 < cx && fy0 < cy && fx1 > cx && fy1 > cy) {
			continue
		}
		nb := [4]float32{max(b[0], fx0) - fx0, max(b[1], fy0) - fy0, min(b[2], fx1) - fx0, min(b[3], fy1) - fy0}
		if nb[2] <= nb[0] || nb[3] <= nb[1] {
			continue
		}
		kb = append(kb, nb)
		kl = append(kl, labels[i])
	}
	return kb, kl
}

// cropImage copies the rectangle [x0, x1) x [y0, y1) of a w-wide HWC image.
func cropImage(img []float32, w, x0, y0, x1, y1 int) []float32 {
	cw := x1 - x0
	out := make([]float32, cw*(y1-y0)*3)
	for y := y0; y < y1; y++ {
		copy(out[(y-y0)*cw*3:], img[(y*w+x0)*3:(y*w+x1)*3])
	}
	return out
}

// minIoUCrop is the "min_iou_crop" transform.
type minIoUCrop struct{ cfg CropConfig }

func (t *minIoUCrop) Apply(s *Sample, rng *rand.Rand) error { return t.apply(s, rng) }

func (t *minIoUCrop) apply(s *Sample, r randSource) error {
	if err := s.check(); err != nil {
		return err
	}
	p := t.cfg.sample(r, s.W, s.H, s.Boxes, s.Labels)
	if !p.apply {
		return nil
	}
	s.Image = cropImage(s.Image, s.W, p.x0, p.y0, p.x1, p.y1)
	s.W, s.H = p.x1-p.x0, p.y1-p.y0
	s.Boxes, s.Labels = p.boxes, p.labels
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "min_iou_crop",
		Summary: "the reference's RandomSampleCrop (SSD's min-IoU patch sampling), with the IoU constraint applied",
		Config:  func() any { c := DefaultCrop(); return &c }},
		func(cfg any) (Transform, error) { return &minIoUCrop{cfg: *registry.As[CropConfig](cfg)}, nil })
}
