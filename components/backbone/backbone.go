// Package backbone holds the feature extractors of an SSD: a base net, optional
// source-layer add-ons and the extra layers, named as the reference's SSD state_dict
// ("base_net.…", "source_layer_add_ons.…", "extras.…").
//
// Each backbone registers itself in Registry from an init function in its own file.
// They are built from the layer kit of components/nn (Conv2d, BatchNorm2d, ReLU, ReLU6,
// MaxPool2d and Seq, a torch nn.Sequential look-alike whose element i lives under the
// sub-path "i"), which the heads use too.
package backbone

import (
	"fmt"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Registry holds the backbones, by name.
var Registry = registry.New[Factory]("backbone", "feature extractors: base net, source-layer add-ons and extra layers")

// Backbone computes the feature maps that the SSD heads read.
type Backbone interface {
	// Forward returns the feature maps fed to the heads, in order; the caller owns them.
	// train selects batch statistics (and updates running statistics) in BatchNorm layers.
	Forward(x *ts.Tensor, train bool) ([]*ts.Tensor, error)
	// Channels returns the channels of each returned feature map.
	Channels() []int
	// Modules returns the top-level module names created under the root path, in the
	// reference's state_dict naming: "base_net", "source_layer_add_ons" (if any), "extras".
	Modules() []string
}

// Factory creates a backbone from its decoded config, with its variables under
// root.Sub("base_net") etc.
type Factory func(cfg any, root *nn.Path) (Backbone, error)

// Build resolves ref in Registry and creates the backbone under root.
func Build(ref registry.Ref, root *nn.Path) (Backbone, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	bb, err := e.Factory(cfg, root)
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %w", ref.Type, err)
	}
	return bb, nil
}

// CheckInput returns an error unless x is a float batch of images, [B,3,H,W].
func CheckInput(x *ts.Tensor) error {
	if x == nil {
		return fmt.Errorf("backbone input: nil tensor")
	}
	size, err := x.Size()
	if err != nil {
		return fmt.Errorf("backbone input: %w", err)
	}
	if len(size) != 4 || size[1] != 3 {
		return fmt.Errorf("backbone input: want shape [B,3,H,W], got %v", size)
	}
	return nil
}

// one returns v, or 1 for 0 (a stride, dilation or group count left out).
func one(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

// dropAll frees tensors (after a failed forward pass).
func dropAll(xs []*ts.Tensor) {
	for _, t := range xs {
		t.MustDrop()
	}
}

// recoverForward is deferred by the backbones' Forward methods, whose results are named
// feats and err: it turns a panic carrying a libtorch or layer error into *err, as
// torch.Recover does (other panics go on), and on any error frees the feature maps made so
// far and leaves *feats nil. recover only works in a function deferred directly, so it
// calls torch.PanicError rather than torch.Recover.
func recoverForward(feats *[]*ts.Tensor, err *error) {
	if r := recover(); r != nil {
		*err = torch.PanicError(r)
	}
	if *err != nil {
		dropAll(*feats)
		*feats = nil
	}
}
