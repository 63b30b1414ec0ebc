// Package shapes is the built-in synthetic dataset "shapes", which it registers with
// components/dataset: shapes on textured backgrounds, generated in memory from a seed.
package shapes

import (
	"errors"
	"fmt"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Streams of one synthetic image: what is drawn where (and so the boxes) is independent of
// how it is coloured, so annotations can be produced without painting.
const (
	streamLayout uint64 = iota + 1
	streamPaint
)

// Config configures the synthetic "shapes" dataset.
//
// Image i is a pure function of (seed, i and the options): samples can be produced in any
// order, concurrently, and again later with identical pixels and boxes.
type Config struct {
	Count         int      `hcl:"count,optional" doc:"number of images"`
	Seed          int      `hcl:"seed,optional" doc:"seed of the generator: image i depends only on (seed, i) and the options"`
	ImageWidth    int      `hcl:"image_width,optional" doc:"fixed image width in pixels; 0 draws each width from [min_size, max_size]"`
	ImageHeight   int      `hcl:"image_height,optional" doc:"fixed image height in pixels; 0 draws each height from [min_size, max_size]"`
	MinSize       int      `hcl:"min_size,optional" doc:"smallest random image side in pixels"`
	MaxSize       int      `hcl:"max_size,optional" doc:"largest random image side in pixels"`
	Classes       []string `hcl:"classes,optional" doc:"shape classes, in label order (label 1 is the first); empty means all: circle, ellipse, square, triangle, hexagon, star, cross, ring"`
	MinObjects    int      `hcl:"min_objects,optional" doc:"fewest objects placed in an image"`
	MaxObjects    int      `hcl:"max_objects,optional" doc:"most objects placed in an image (fewer when no free place is found)"`
	MinObjectSize float64  `hcl:"min_object_size,optional" doc:"smallest object diameter (of its circumscribed circle) as a fraction of the image's shorter side"`
	MaxObjectSize float64  `hcl:"max_object_size,optional" doc:"largest object diameter as a fraction of the image's shorter side (sizes are log-uniform in between)"`
	MaxOverlap    float64  `hcl:"max_overlap,optional" doc:"largest IoU allowed between the boxes of two objects"`
	MinVisible    float64  `hcl:"min_visible,optional" doc:"fraction of each object's pixels that must stay visible when later objects are drawn over it"`
	Border        float64  `hcl:"border,optional" doc:"probability that an object is placed across the image border (at least half of it stays inside)"`
	LowContrast   float64  `hcl:"low_contrast,optional" doc:"probability that an object's colour is close to what lies under it"`
	Clutter       float64  `hcl:"clutter,optional" doc:"probability that unlabelled blobs and lines are drawn on the background"`
	Noise         float64  `hcl:"noise,optional" doc:"largest amplitude of the per-pixel noise, on the 0-255 scale (each image draws its own amplitude up to this)"`
}

// DefaultConfig returns the defaults of the "shapes" dataset.
func DefaultConfig() Config {
	return Config{
		Count: 512, MinSize: 240, MaxSize: 400,
		MinObjects: 1, MaxObjects: 6, MinObjectSize: 0.1, MaxObjectSize: 0.5,
		MaxOverlap: 0.4, MinVisible: 0.6, Border: 0.2, LowContrast: 0.1, Clutter: 0.6, Noise: 8,
	}
}

// Validate checks the options (called after decoding).
func (c *Config) Validate() error {
	_, err := c.kinds()
	if err != nil {
		return err
	}
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Count >= 1, "count must be >= 1, got %d", c.Count)
	check(c.ImageWidth == 0 || (c.ImageWidth >= 16 && c.ImageWidth <= 4096), "image_width must be 0 or in [16, 4096], got %d", c.ImageWidth)
	check(c.ImageHeight == 0 || (c.ImageHeight >= 16 && c.ImageHeight <= 4096), "image_height must be 0 or in [16, 4096], got %d", c.ImageHeight)
	check(c.MinSize >= 16 && c.MinSize <= c.MaxSize && c.MaxSize <= 4096, "need 16 <= min_size <= max_size <= 4096, got min_size %d, max_size %d", c.MinSize, c.MaxSize)
	check(c.MinObjects >= 0 && c.MinObjects <= c.MaxObjects && c.MaxObjects <= 100, "need 0 <= min_objects <= max_objects <= 100, got min_objects %d, max_objects %d", c.MinObjects, c.MaxObjects)
	check(c.MinObjectSize > 0 && c.MinObjectSize <= c.MaxObjectSize && c.MaxObjectSize <= 1, "need 0 < min_object_size <= max_object_size <= 1, got %g and %g", c.MinObjectSize, c.MaxObjectSize)
	for _, p := range []struct {
		name string
		v    float64
	}{{"max_overlap", c.MaxOverlap}, {"min_visible", c.MinVisible}, {"border", c.Border}, {"low_contrast", c.LowContrast}, {"clutter", c.Clutter}} {
		check(p.v >= 0 && p.v <= 1, "%s must be in [0, 1], got %g", p.name, p.v)
	}
	check(c.Noise >= 0 && c.Noise <= 64, "noise must be in [0, 64], got %g", c.Noise)
	return errors.Join(errs...)
}

// kinds maps the configured class names to shape kinds.
func (c *Config) kinds() ([]int, error) {
	if len(c.Classes) == 0 {
		out := make([]int, len(shapeNames))
		for k := range out {
			out[k] = k
		}
		return out, nil
	}
	seen := map[string]bool{}
	var out []int
	for _, name := range c.Classes {
		k := -1
		for j, n := range shapeNames {
			if n == name {
				k = j
			}
		}
		if k < 0 {
			msg := fmt.Sprintf("classes: unknown shape %q", name)
			if s := registry.Suggest(name, shapeNames); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return nil, fmt.Errorf("%s (known: %v)", msg, shapeNames)
		}
		if seen[name] {
			return nil, fmt.Errorf("classes: %q is listed twice", name)
		}
		seen[name] = true
		out = append(out, k)
	}
	return out, nil
}

func init() {
	dataset.Registry.Register(registry.Spec{
		Name:    "shapes",
		Summary: "built-in synthetic shapes on textured backgrounds, generated in memory from a seed",
		Config:  func() any { c := DefaultConfig(); return &c },
	}, func(cfg any, _ dataset.Env) (dataset.Dataset, error) {
		return New(*registry.As[Config](cfg))
	})
}

// Dataset is the synthetic dataset. With the defaults: 1-6 objects of 8 shape classes
// (circle, ellipse, square, triangle, hexagon, star, cross, ring) whose circumscribed circle
// spans 10-50% of the image's shorter side, randomly rotated and proportioned, in
// random colours (sometimes close to what lies under them), filled flat, with a gradient or
// with stripes, on a textured background (smooth noise, gradient, stripes, checkerboard or
// many muted blobs), often with unlabelled clutter (irregular blobs, lines), plus per-pixel
// noise. Objects may overlap (box IoU up to max_overlap) and later ones hide parts of earlier
// ones (each keeps at least min_visible of its pixels); some are cut by the image border.
//
// Box definition: a pixel belongs to a shape when its centre lies inside the shape's outline
// (even-odd rule, so a ring's hole is not part of it). The box is (xmin, ymin, xmax, ymax) =
// the 0-based indices of the extreme columns and rows of the shape's pixels inside the image
// (inclusive, the reference's VOC convention after subtracting 1), counted before later
// objects are drawn over it: it is tight around the drawn shape and clipped to the image.
// No object is marked difficult.
//
// Images are *image.RGBA. Determinism: samples are bit-identical for the same options on the
// same architecture (other architectures may fuse floating-point multiply-adds, which can
// move a colour by one level or, rarely, a pixel at a shape's edge).
type Dataset struct {
	cfg   Config
	kinds []int
	names []string
}

// New validates cfg and returns the dataset.
func New(cfg Config) (*Dataset, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kinds, _ := cfg.kinds()
	names := []string{"BACKGROUND"}
	for _, k := range kinds {
		names = append(names, shapeNames[k])
	}
	cfg.Classes = append([]string(nil), cfg.Classes...)
	return &Dataset{cfg: cfg, kinds: kinds, names: names}, nil
}

// Len is the number of images.
func (d *Dataset) Len() int { return d.cfg.Count }

// ClassNames returns BACKGROUND followed by the configured shapes.
func (d *Dataset) ClassNames() []string { return append([]string(nil), d.names...) }

// ID is the id of image i: it names the seed, so that splits generated with different seeds
// can share a VOC folder.
func (d *Dataset) ID(i int) string { return fmt.Sprintf("shapes%d_%06d", d.cfg.Seed, i) }

// checkIndex reports an image index out of range, as the other datasets do.
func checkIndex(i, n int) error {
	if i < 0 || i >= n {
		return fmt.Errorf("dataset: index %d out of range [0, %d)", i, n)
	}
	return nil
}

// Annotation returns the objects of image i without painting it.
func (d *Dataset) Annotation(i int) (string, []dataset.Object, error) {
	if err := checkIndex(i, d.cfg.Count); err != nil {
		return "", nil, err
	}
	return d.ID(i), d.layout(i).objects(), nil
}

// Sample paints image i (an *image.RGBA).
func (d *Dataset) Sample(i int) (dataset.Sample, error) {
	if err := checkIndex(i, d.cfg.Count); err != nil {
		return dataset.Sample{}, err
	}
	l := d.layout(i)
	return dataset.Sample{ID: d.ID(i), Image: d.paint(i, l), Objects: l.objects()}, nil
}
