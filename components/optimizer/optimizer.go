// Package optimizer holds the optimizers. They are written here with libtorch tensor
// operations (not gotch's nn.Optimizer) so that each parameter group has its own learning
// rate and weight decay, and so that their state can be saved and restored for an exact
// resume. Each reproduces the update of its torch.optim counterpart (PyTorch 1.13, the
// default single-tensor code path).
package optimizer

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/registry"
)

// Group is a set of parameters sharing a learning rate and a weight decay. LR and
// WeightDecay are the group's resolved values: the optimizer uses them, not the lr and
// weight_decay of its own config (those are the defaults the runner resolves groups with;
// see Defaults).
type Group struct {
	Name        string
	Params      []*ts.Tensor
	LR          float64
	WeightDecay float64
}

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// ZeroGrad zeroes every defined gradient in place, like torch 1.13's zero_grad():
	// the gradients stay defined (a data-parallel step reduces every one of them).
	ZeroGrad()
	// ClearGrad sets every gradient to none, like zero_grad(set_to_none=True) (PyTorch
	// 2's default): the next backward pass hands each parameter its gradient as computed,
	// with no zeroing and no accumulation pass. The update is the same as after ZeroGrad
	// for every parameter the next backward pass reaches; one it does not reach is skipped
	// by Step instead of decayed with a zero gradient.
	ClearGrad()
	// Step updates every parameter that has a gradient; parameters whose gradient is
	// undefined (frozen, or unused so far) are skipped and keep their state.
	Step() error
	// SetLR sets the learning rate of group i (e.g. from the schedule, before a step).
	SetLR(group int, lr float64)
	// LR returns the learning rate of group i.
	LR(group int) float64
	// State returns copies of everything needed to resume exactly, named
	// "g<group>.p<param>.<name>" (e.g. "g0.p3.momentum_buffer", "g1.p0.step"); the caller
	// owns and frees them.
	State() map[string]*ts.Tensor
	// LoadState replaces the state with copies of the given tensors (the caller keeps
	// ownership of the map's tensors).
	LoadState(map[string]*ts.Tensor) error
	// Close frees the optimizer's own tensors; the parameters are the caller's.
	Close()
}

// Factory builds an optimizer over parameter groups from its decoded config.
type Factory func(cfg any, groups []Group) (Optimizer, error)

// Registry holds the optimizers, by the name experiment files use.
var Registry = registry.New[Factory]("optimizer", "optimizers")

// Build resolves ref (name and options) and builds the optimizer over groups.
func Build(ref registry.Ref, groups []Group) (Optimizer, error) {
	e, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return e.Factory(cfg, groups)
}

// GroupDefaults is implemented by every optimizer config: the learning rate and weight
// decay given in the optimizer's options, which groups that set none of their own get.
type GroupDefaults interface {
	DefaultLR() float64
	DefaultWeightDecay() float64
}

// Defaults resolves ref and returns the base learning rate and the default weight decay
// its options give.
func Defaults(ref registry.Ref) (lr, weightDecay float64, err error) {
	_, cfg, err := Registry.Resolve(ref)
	if err != nil {
		return 0, 0, err
	}
	d, ok := cfg.(GroupDefaults)
	if !ok {
		return 0, 0, fmt.Errorf("optimizer %q: its config %T does not give default hyper-parameters", ref.Type, cfg)
	}
	return d.DefaultLR(), d.DefaultWeightDecay(), nil
}
