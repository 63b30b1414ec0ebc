// Package anchors generates SSD prior (anchor, default) boxes.
//
// A Generator tiles every feature map of the detector with a fixed set of boxes per
// location and returns them as one [N,4] float32 tensor in center form (cx, cy, w, h),
// relative to the image size. The order is the one the heads' outputs are flattened in:
// feature maps in order, then locations row by row (y outer, x inner), then the boxes of
// a location.
//
// Two schemes are registered:
//   - "ssd_spec": the PyTorch SSD project's scheme (per feature map: shrinkage and min/max
//     box sizes in pixels), with the reference's presets "mobilenet", "vgg" and "squeezenet";
//   - "min_max_scale": the paper's / torchvision DefaultBoxGenerator scheme (scales relative
//     to the image, spread linearly between min_ratio and max_ratio, or given), with presets
//     "ssd300", "ssd512" and "ssdlite320".
package anchors

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Registry holds the prior box generators.
var Registry = registry.New[Factory]("anchors", "prior (anchor) box generators")

// FeatureMap describes how one feature map is tiled with priors.
type FeatureMap struct {
	Size             int     // the feature map is Size x Size
	Shrinkage        float64 // image pixels per feature map cell (the step)
	BoxesPerLocation int     // priors per cell
	Count            int     // Size*Size*BoxesPerLocation
}

// Generator produces the priors of a detector.
type Generator interface {
	// ImageSize is the side of the (square) input image, in pixels.
	ImageSize() int
	// FeatureMaps describes the tiled feature maps, in order.
	FeatureMaps() []FeatureMap
	// Priors returns a new [N,4] float32 tensor (cx, cy, w, h) in image units, in the
	// reference order. The caller owns it.
	Priors() (*ts.Tensor, error)
}

// Factory builds a Generator from its decoded config.
type Factory func(cfg any) (Generator, error)

// Build resolves ref in the Registry, decodes its options and builds the generator.
func Build(ref registry.Ref) (Generator, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	g, err := e.Factory(cfg)
	if err != nil {
		return nil, fmt.Errorf("anchors %q: %w", ref.Type, err)
	}
	return g, nil
}

// NumPriors is the total number of priors of a set of feature maps.
func NumPriors(maps []FeatureMap) int {
	n := 0
	for _, m := range maps {
		n += m.Count
	}
	return n
}

// BoxesPerLocation lists the boxes per location of each feature map (what the heads need).
func BoxesPerLocation(maps []FeatureMap) []int {
	out := make([]int, len(maps))
	for i, m := range maps {
		out[i] = m.BoxesPerLocation
	}
	return out
}
