// Package head holds the SSD prediction heads: per feature map, a classification
// header giving BoxesPerLocation·NumClasses logits and a regression header giving
// BoxesPerLocation·4 box offsets per location, named as the reference's state_dict
// ("classification_headers.N…", "regression_headers.N…").
package head

import (
	"fmt"

	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Registry holds the heads, by name.
var Registry = registry.New[Factory]("head", "prediction heads: per-feature-map class logits and box offsets")

// Spec is what a head needs to know of the model: the channels of each feature map, the
// number of anchors per location of each map and the number of classes (background
// included).
type Spec struct {
	Channels         []int
	BoxesPerLocation []int
	NumClasses       int
}

// Validate checks that the spec describes at least one feature map consistently.
func (s Spec) Validate() error {
	if len(s.Channels) == 0 {
		return fmt.Errorf("head: no feature maps")
	}
	if len(s.Channels) != len(s.BoxesPerLocation) {
		return fmt.Errorf("head: %d feature maps but %d boxes-per-location values", len(s.Channels), len(s.BoxesPerLocation))
	}
	for i := range s.Channels {
		if s.Channels[i] <= 0 || s.BoxesPerLocation[i] <= 0 {
			return fmt.Errorf("head: feature map %d: channels %d and boxes per location %d must be positive", i, s.Channels[i], s.BoxesPerLocation[i])
		}
	}
	if s.NumClasses < 1 {
		return fmt.Errorf("head: num_classes must be at least 1, got %d", s.NumClasses)
	}
	return nil
}

// Head turns feature maps into predictions.
type Head interface {
	// Forward returns class logits [B,N,NumClasses] and box offsets [B,N,4], raw (no
	// softmax, no decoding), N summed over the feature maps in order, each map's
	// locations in row-major order with its anchors innermost; the caller owns them.
	Forward(features []*ts.Tensor, train bool) (conf, loc *ts.Tensor, err error)
	// Modules returns "classification_headers", "regression_headers".
	Modules() []string
}

// Factory creates a head from its decoded config, with its variables under
// root.Sub("classification_headers") and root.Sub("regression_headers").
type Factory func(cfg any, root *gnn.Path, s Spec) (Head, error)

// Build resolves ref in Registry and creates the head under root.
func Build(ref registry.Ref, root *gnn.Path, s Spec) (Head, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	h, err := e.Factory(cfg, root, s)
	if err != nil {
		return nil, fmt.Errorf("head %q: %w", ref.Type, err)
	}
	return h, nil
}

// PerMap is a head made of one classification and one regression layer per feature
// map, combined as the reference's SSD.compute_header does: each output is permuted
// NCHW→NHWC and viewed as [B, H·W·boxes, C], then concatenated over the maps.
type PerMap struct {
	Spec           Spec
	Classification []nn.Layer
	Regression     []nn.Layer
}

// Modules returns "classification_headers", "regression_headers".
func (h *PerMap) Modules() []string {
	return []string{"classification_headers", "regression_headers"}
}

// Forward implements Head.
func (h *PerMap) Forward(features []*ts.Tensor, train bool) (conf, loc *ts.Tensor, err error) {
	if len(features) != len(h.Classification) {
		return nil, nil, fmt.Errorf("head: got %d feature maps, built for %d", len(features), len(h.Classification))
	}
	var batch int64 = -1
	for i, f := range features {
		size, err := f.Size()
		if err != nil {
			return nil, nil, fmt.Errorf("head: feature map %d: %w", i, err)
		}
		if len(size) != 4 || size[1] != int64(h.Spec.Channels[i]) || (batch >= 0 && size[0] != batch) {
			return nil, nil, fmt.Errorf("head: feature map %d has shape %v, want [B,%d,H,W] with one B for all maps", i, size, h.Spec.Channels[i])
		}
		batch = size[0]
	}
	s := torch.NewScope()
	defer s.Close()
	defer torch.Recover(&err)
	confs := make([]ts.Tensor, len(features))
	locs := make([]ts.Tensor, len(features))
	for i, f := range features {
		confs[i] = *s.T(flatten(h.Classification[i].Forward(f, train), batch, int64(h.Spec.NumClasses)))
		locs[i] = *s.T(flatten(h.Regression[i].Forward(f, train), batch, 4))
	}
	conf = s.T(ts.MustCat(confs, 1))
	loc = s.T(ts.MustCat(locs, 1))
	return s.Keep(conf), s.Keep(loc), nil
}

// flatten turns a [B, boxes·c, H, W] map into [B, H·W·boxes, c], freeing y. The sizes
// are explicit (no -1), so that an empty batch (B = 0: a data-parallel rank without
// samples that still runs synchronised batch norms) flattens too.
func flatten(y *ts.Tensor, batch, c int64) *ts.Tensor {
	d := y.MustSize()
	p := y.MustPermute([]int64{0, 2, 3, 1}, true)
	q := p.MustContiguous(true)
	return q.MustView([]int64{batch, d[2] * d[3] * (d[1] / c), c}, true)
}
