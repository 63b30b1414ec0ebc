// Package transform provides the image and box transforms that experiments name in
// `transform "<type>" { … }` blocks and in data.augmentation: the steps of the reference's
// SSD augmentation (photometric_distort, expand, min_iou_crop, hflip, resize, normalize) and
// the presets "ssd" (the reference's TrainAugmentation as one fused transform), "test"
// (TestTransform: resize and normalise) and "none".
//
// A Sample holds the image as float32 RGB values in HWC order, 0..255 until normalize, and
// its boxes as (xmin, ymin, xmax, ymax) in pixels of the current image, used as the
// reference uses them: as coordinates on a continuous axis (a mirror maps x to W - x, a
// crop clips to its edges), whatever convention the dataset has for the last pixel. Unlike
// the reference, boxes are not turned into percent coordinates inside the chain (its
// ToPercentCoords step): resize scales them with the image and the loader divides them by
// the final width and height, which gives the reference's relative boxes (to float32
// rounding). The image stays HWC: the loader makes the CHW tensor.
//
// Randomness comes only from the *rand.Rand passed to Apply, so the same seed gives the same
// output. Where an operation happens with probability 0.5 (every default), the decision is
// drawn as the reference draws it (an integer in {0, 1}), and the random values are drawn in
// the reference's order, so that a scripted stream of draws reproduces the reference's output
// (see the golden tests).
//
// Transforms modify the sample in place and may reuse or replace its slices. A Transform
// holds no mutable state: one may serve several goroutines at once, each with its own rng.
package transform

import (
	"fmt"
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Sample is one image and its objects on their way through a chain.
type Sample struct {
	ID string
	// Image is H*W*3 float32 values, RGB, row-major (HWC).
	Image []float32
	H, W  int
	// Boxes are xmin, ymin, xmax, ymax in pixels of the current image.
	Boxes [][4]float32
	// Labels[i] is the class of Boxes[i].
	Labels []int
}

// check reports a sample whose fields disagree with each other.
func (s *Sample) check() error {
	switch {
	case s.H <= 0 || s.W <= 0:
		return fmt.Errorf("image %q: invalid size %dx%d", s.ID, s.W, s.H)
	case len(s.Image) != s.H*s.W*3:
		return fmt.Errorf("image %q: %d values for a %dx%d RGB image (want %d)", s.ID, len(s.Image), s.W, s.H, s.H*s.W*3)
	case len(s.Boxes) != len(s.Labels):
		return fmt.Errorf("image %q: %d boxes but %d labels", s.ID, len(s.Boxes), len(s.Labels))
	}
	return nil
}

// Transform changes a sample (its image, boxes and labels together).
type Transform interface {
	Apply(s *Sample, rng *rand.Rand) error
}

// Factory builds a transform from its decoded config.
type Factory func(cfg any) (Transform, error)

// Registry holds the transform kinds.
var Registry = registry.New[Factory]("transform", "image and box transforms (augmentation)")

// Build resolves ref against the Registry and builds the transform.
func Build(ref registry.Ref) (Transform, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	t, err := e.Factory(cfg)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", ref.Type, err)
	}
	return t, nil
}

// Chain is a Transform that applies its steps in order.
type Chain []Transform

// Apply applies every step; it stops at the first error.
func (c Chain) Apply(s *Sample, rng *rand.Rand) error {
	for i, t := range c {
		if err := t.Apply(s, rng); err != nil {
			return fmt.Errorf("transform step %d: %w", i, err)
		}
	}
	return nil
}

// BuildChain builds the transforms of refs, in order, as one Chain.
func BuildChain(refs []registry.Ref) (Transform, error) {
	c := make(Chain, 0, len(refs))
	for i, ref := range refs {
		t, err := Build(ref)
		if err != nil {
			return nil, fmt.Errorf("transform[%d]: %w", i, err)
		}
		c = append(c, t)
	}
	return c, nil
}

// identity is the "none" transform.
type identity struct{}

func (identity) Apply(s *Sample, _ *rand.Rand) error { return s.check() }

func init() {
	Registry.Register(registry.Spec{Name: "none", Summary: "leaves images and boxes unchanged"},
		func(any) (Transform, error) { return identity{}, nil })
}
