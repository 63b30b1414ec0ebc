package transform

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/internal/bufpool"
	"github.com/ssdrunner/ssdrunner/registry"
)

// SSDConfig configures "ssd", the reference's TrainAugmentation(size, mean, std):
// photometric_distort, expand (filled with mean), min_iou_crop, hflip, resize to size and
// normalize, drawn in that order. It gives the same result as that chain of steps, bit for
// bit, but never builds the zoomed-out canvas (up to 16 times the image) nor the crop: the
// crop of the canvas is kept as a window into the source image and pixels are produced only
// by the resize, and only the source pixels the resize reads are distorted.
type SSDConfig struct {
	Size        int               `hcl:"size,optional" doc:"output width and height (default 300)"`
	Mean        []float64         `hcl:"mean,optional" doc:"per-channel mean: the canvas fill of expand, subtracted by the normalisation; 1 or 3 values (default [127, 127, 127])"`
	Std         []float64         `hcl:"std,optional" doc:"divisor of the normalisation, 1 or 3 values (default [128])"`
	Photometric PhotometricConfig `hcl:"photometric,block" doc:"photometric_distort settings"`
	Expand      ExpandOptions     `hcl:"expand,block" doc:"expand settings (its fill is mean)"`
	Crop        CropConfig        `hcl:"crop,block" doc:"min_iou_crop settings"`
	Flip        FlipConfig        `hcl:"flip,block" doc:"hflip settings"`
}

// DefaultSSD returns the reference's TrainAugmentation for MobileNet configs (size 300, mean
// 127, std 128) with the crop's IoU constraint applied.
func DefaultSSD() SSDConfig {
	return SSDConfig{Size: 300, Mean: defaultMean(), Std: defaultStd(), Photometric: DefaultPhotometric(),
		Expand: DefaultExpand(), Crop: DefaultCrop(), Flip: FlipConfig{P: 0.5}}
}

// Validate checks every part.
func (c *SSDConfig) Validate() error {
	_, errMean := perChannel("mean", c.Mean)
	_, errStd := stdChannels("std", c.Std)
	return errors.Join(checkSize(c.Size), errMean, errStd, prefixed("photometric", c.Photometric.Validate()),
		prefixed("expand", c.Expand.Validate()), prefixed("crop", c.Crop.Validate()), prefixed("flip", c.Flip.Validate()))
}

// prefixed names the block an error comes from.
func prefixed(block string, err error) error {
	if err == nil {
		return nil
	}
	return &blockError{block, err}
}

type blockError struct {
	block string
	err   error
}

func (e *blockError) Error() string { return e.block + ": " + e.err.Error() }
func (e *blockError) Unwrap() error { return e.err }

// ssd is the "ssd" transform.
type ssd struct {
	cfg  SSDConfig
	norm affine
	// scratch holds float32 images for Apply8, of which only the pixels the resize reads
	// are ever written and read.
	scratch bufpool.Pool[float32]
}

func newSSD(c *SSDConfig) *ssd {
	m, _ := perChannel("mean", c.Mean)
	s, _ := stdChannels("std", c.Std)
	return &ssd{cfg: *c, norm: affine{mean: m, std: s}}
}

func (t *ssd) Apply(s *Sample, rng *rand.Rand) error {
	if err := s.check(); err != nil {
		return err
	}
	return t.apply(s, rng, nil)
}

// Apply8 is Apply on img's pixels: it converts to float32 only the source pixels the resize
// reads, as it distorts them, into a pooled image whose other pixels stay unwritten.
func (t *ssd) Apply8(s *Sample, img Image8, rng *rand.Rand) (bool, error) {
	if !img.valid() {
		return false, nil
	}
	if s.W != img.W || s.H != img.H {
		return true, fmt.Errorf("image %q: the sample is %dx%d, its 8-bit image %dx%d", s.ID, s.W, s.H, img.W, img.H)
	}
	n := 3 * img.W * img.H
	s.Image = t.scratch.Take(n)
	defer t.scratch.Put(s.Image)
	if err := s.check(); err != nil {
		return true, err
	}
	return true, t.apply(s, rng, &img)
}

// apply is Apply on a checked sample. With src8, s.Image is a scratch image that holds
// nothing yet: the pixels the resize reads are converted from src8 as they are distorted.
func (t *ssd) apply(s *Sample, r randSource, src8 *Image8) error {
	c := &t.cfg
	photo := c.Photometric.sample(r)

	v := &view{src: s.Image, sw: s.W, sh: s.H, w: s.W, h: s.H, fill: t.norm.mean}
	e := c.Expand.sample(r, s.W, s.H)
	if e.apply {
		v.x0, v.y0, v.w, v.h = -e.ox, -e.oy, e.cw, e.ch
		shiftBoxes(s.Boxes, e.ox, e.oy)
	}
	if p := c.Crop.sample(r, v.w, v.h, s.Boxes, s.Labels); p.apply {
		v.x0, v.y0 = v.x0+p.x0, v.y0+p.y0
		v.w, v.h = p.x1-p.x0, p.y1-p.y0
		s.Boxes, s.Labels = p.boxes, p.labels
	}
	if chance(r, c.Flip.P) {
		v.flip = true
		mirrorBoxes(s.Boxes, v.w)
	}

	rz := newResizer(v.w, v.h, c.Size, c.Size)
	distortRead(rz, v, &photo, src8)
	s.Image = rz.float(v, &t.norm)
	scaleBoxes(s.Boxes, v.w, v.h, c.Size, c.Size)
	s.W, s.H = c.Size, c.Size
	return nil
}

// distortRead applies the photometric distortion, in place, to the source pixels that the
// resize of v reads (runs of consecutive columns on the rows it reads), first converting
// them from src8 when it is given.
func distortRead(rz *resizer, v *view, p *photoParams, src8 *Image8) {
	cols, rows := make([]bool, v.sw), make([]bool, v.sh)
	rz.markSource(v, cols, rows)
	var runs [][2]int
	for x := 0; x < v.sw; {
		if !cols[x] {
			x++
			continue
		}
		start := x
		for x < v.sw && cols[x] {
			x++
		}
		runs = append(runs, [2]int{start, x})
	}
	for y, used := range rows {
		if !used {
			continue
		}
		row := v.src[y*v.sw*3 : (y+1)*v.sw*3]
		for _, run := range runs {
			if src8 != nil {
				src8.floatRun(y, run[0], run[1], row)
			}
			p.apply(row[run[0]*3 : run[1]*3])
		}
	}
}

// TestConfig configures "test", the reference's TestTransform(size, mean, std): resize and
// normalise.
type TestConfig struct {
	Size  int       `hcl:"size,optional" doc:"output width and height (default 300)"`
	Mean  []float64 `hcl:"mean,optional" doc:"per-channel mean subtracted, 1 or 3 values (default [127, 127, 127])"`
	Std   []float64 `hcl:"std,optional" doc:"divisor applied after the mean, 1 or 3 values (default [128])"`
	Uint8 bool      `hcl:"uint8,optional" doc:"resize as OpenCV resizes the 8-bit decoded image, as the reference does at test time (default true); false resizes in float32"`
}

// Validate checks the options.
func (c *TestConfig) Validate() error {
	_, errMean := perChannel("mean", c.Mean)
	_, errStd := stdChannels("std", c.Std)
	return errors.Join(checkSize(c.Size), errMean, errStd)
}

// testTransform is the "test" transform.
type testTransform struct {
	cfg  TestConfig
	norm affine
	lut  [3][256]float32 // norm of every 8-bit value, for Input8
}

func (t *testTransform) Apply(s *Sample, _ *rand.Rand) error {
	if err := s.check(); err != nil {
		return err
	}
	resizeSample(s, t.cfg.Size, t.cfg.Uint8, &t.norm)
	return nil
}

func init() {
	Registry.Register(registry.Spec{Name: "ssd",
		Summary: "the reference's TrainAugmentation: photometric distortion, zoom out, min-IoU crop, mirror, resize, normalise (fused)",
		Config:  func() any { c := DefaultSSD(); return &c }},
		func(cfg any) (Transform, error) { return newSSD(registry.As[SSDConfig](cfg)), nil })
	Registry.Register(registry.Spec{Name: "test",
		Summary: "the reference's TestTransform: resize and normalise",
		Config:  func() any { return &TestConfig{Size: 300, Mean: defaultMean(), Std: defaultStd(), Uint8: true} }},
		func(cfg any) (Transform, error) {
			c := registry.As[TestConfig](cfg)
			m, _ := perChannel("mean", c.Mean)
			s, _ := stdChannels("std", c.Std)
			t := &testTransform{cfg: *c, norm: affine{mean: m, std: s}}
			t.lut = t.norm.table()
			return t, nil
		})
}
