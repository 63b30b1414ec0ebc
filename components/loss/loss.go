// Package loss holds the detection losses that train SSD, by the name experiment files
// use (registry kind "loss").
package loss

import (
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Loss scores a batch of predictions against the matched targets.
type Loss interface {
	// Forward takes conf [B,P,C] class logits, loc [B,P,4] predicted locations, labels
	// [B,P] int64 (0 = background) and gtLoc [B,P,4] encoded target locations (as
	// target.Matcher gives them), and returns the regression and classification losses,
	// 0-dim tensors in the graph of conf and loc, owned by the caller.
	Forward(conf, loc, labels, gtLoc *ts.Tensor) (regression, classification *ts.Tensor, err error)
}

// Matching is implemented by losses whose targets come from matching priors to the
// ground-truth boxes: MatchIoU is the IoU above which a prior becomes a positive of a box
// (target.NewMatcher's threshold).
type Matching interface {
	MatchIoU() float64
}

// Factory builds a loss from its decoded config.
type Factory func(cfg any) (Loss, error)

// Registry holds the losses, by the name experiment files use.
var Registry = registry.New[Factory]("loss", "detection losses")

// Build resolves ref (name and options) and builds the loss.
func Build(ref registry.Ref) (Loss, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return e.Factory(cfg)
}
