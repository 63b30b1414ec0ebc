package main

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// The named models as compositions of registered components (experiments/base/*.hcl).
var models = map[string]struct{ backbone, head, anchors registry.Ref }{
	"mb1-ssd": {
		registry.Ref{Type: "mobilenet_v1", Options: map[string]any{"extras": "ssd"}},
		registry.Ref{Type: "ssd"},
		registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": "mobilenet"}},
	},
	"mb2-ssd-lite": {
		registry.Ref{Type: "mobilenet_v2"},
		registry.Ref{Type: "ssd_lite"},
		registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": "mobilenet"}},
	},
	"vgg16-ssd": {
		registry.Ref{Type: "vgg16"},
		registry.Ref{Type: "ssd"},
		registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": "vgg"}},
	},
}

func modelCases() []benchCase {
	var out []benchCase
	for _, name := range []string{"mb1-ssd", "mb2-ssd-lite", "vgg16-ssd"} {
		for _, train := range []bool{false, true} {
			// Training needs batch ≥ 2 in both implementations: batch norm on the
			// last 1x1 feature map has a single value per channel at batch 1.
			batches := []int{1, 16}
			if train {
				batches = []int{2, 16}
			}
			for _, batch := range batches {
				reps := 10
				if batch == 16 {
					reps = 3
				}
				if name == "vgg16-ssd" {
					reps = max(2, reps/3)
				}
				kind := "forward"
				if train {
					kind = "train"
				}
				name, batch, train := name, batch, train
				var pair func() (func() error, func(), error)
				if train {
					pair = func() (func() error, func(), error) { return modelStep(name, batch, true) }
				}
				out = append(out, benchCase{
					name:   fmt.Sprintf("%s %s batch %d", name, map[bool]string{false: "forward", true: "forward+backward"}[train], batch),
					ref:    fmt.Sprintf("%s:%s/%d", kind, name, batch),
					reps:   reps,
					target: "≤ 1.0",
					ours:   func(reps int) (measured, error) { return timeModel(name, batch, train, reps) },
					ops:    func() (map[string]int64, error) { return countModel(name, batch, train) },
					pair:   pair,
				})
			}
		}
	}
	return out
}

func timeModel(name string, batch int, train bool, reps int) (measured, error) {
	step, done, err := modelStep(name, batch, train)
	if err != nil {
		return measured{}, err
	}
	defer done()
	return timeReps(reps, step)
}

// countModel counts the libtorch ops of one step (after a warm-up step), as -ops prints.
func countModel(name string, batch int, train bool) (map[string]int64, error) {
	return countAfterWarmup(modelStep(name, batch, train))
}

// countAfterWarmup runs step once, then counts the libtorch ops of a second run; done
// frees what the step holds.
func countAfterWarmup(step func() error, done func(), err error) (map[string]int64, error) {
	if err != nil {
		return nil, err
	}
	defer done()
	if err := step(); err != nil {
		return nil, err
	}
	return torch.CountOps(step)
}

// modelStep builds a named model and returns one step of it on a random batch (forward
// under no-grad, or forward and backward of the outputs' sum) and the function that frees
// it all. A training step first clears the gradients, as runner apply's step does (the
// reference's zeroes them in place: net.zero_grad(), torch 1.13's default, as
// train_ssd.py's optimizer.zero_grad()).
func modelStep(name string, batch int, train bool) (step func() error, done func(), err error) {
	spec := models[name]
	gen, err := anchors.Build(spec.anchors)
	if err != nil {
		return nil, nil, err
	}
	vs := nn.NewVarStore(gotch.CPU)
	m, err := model.Build(vs, spec.backbone, spec.head, anchors.BoxesPerLocation(gen.FeatureMaps()), 21)
	if err != nil {
		return nil, nil, err
	}
	x := ts.MustRandn([]int64{int64(batch), 3, 300, 300}, gotch.Float, gotch.CPU)
	done = func() {
		x.MustDrop()
		for _, t := range vs.Variables() {
			t.MustDrop()
		}
	}
	_, params := m.Parameters("")
	step = func() error {
		if !train {
			return torch.NoGrad(func() error {
				conf, loc, err := m.Forward(x, false)
				if err != nil {
					return err
				}
				conf.MustDrop()
				loc.MustDrop()
				return nil
			})
		}
		for _, p := range params {
			if err := torch.ClearGrad(p); err != nil {
				return err
			}
		}
		conf, loc, err := m.Forward(x, true)
		if err != nil {
			return err
		}
		s := torch.NewScope()
		defer s.Close()
		s.Ts(conf, loc)
		total := s.T(s.T(conf.MustSum(gotch.Float, false)).MustAdd(s.T(loc.MustSum(gotch.Float, false)), false))
		total.MustBackward()
		return nil
	}
	return step, done, nil
}
