package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/loader"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// The optimizer-step cases time `runner apply`'s whole step — clear the gradients (set
// to none), forward in training mode, MultiBox loss, backward, finiteness check, SGD
// update — against the body of the reference's train_ssd.py loop (optimizer.zero_grad,
// which zeroes in place in torch 1.13, net, MultiboxLoss, backward, optimizer.step, the
// three .item() reads) on the same tensors: the images and the matched targets are
// written to files that reference.py reads. Both sides train
// with train_ssd.py's defaults: SGD with momentum 0.9 and weight decay 5e-4 over its
// three parameter groups (base_net at base_net_lr; source_layer_add_ons and extras at
// extra_layers_lr; the heads at lr), ours through the builtin experiment of the model
// (experiments/base: the same groups).
var stepHyper = struct {
	LR          float64 `json:"lr"`
	BaseNetLR   float64 `json:"base_net_lr"`
	ExtraLR     float64 `json:"extra_layers_lr"`
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
}{LR: 0.01, BaseNetLR: 0.001, ExtraLR: 0.005, Momentum: 0.9, WeightDecay: 5e-4}

// stepGT is the number of random ground-truth boxes per image of the step cases.
const stepGT = 10

func stepCases() []benchCase {
	var out []benchCase
	for _, name := range []string{"mb1-ssd", "mb2-ssd-lite", "vgg16-ssd"} {
		for _, batch := range []int{2, 16} {
			reps := 10
			if batch == 16 {
				reps = 3
			}
			if name == "vgg16-ssd" {
				reps = max(2, reps/3)
			}
			c := &stepCase{model: name, batch: batch}
			out = append(out, benchCase{
				name:    fmt.Sprintf("%s optimizer step (SGD) batch %d", name, batch),
				ref:     "step",
				refArg:  c.refArg,
				reps:    reps,
				target:  "≤ 1.0",
				ours:    c.time,
				ops:     c.countOps,
				cleanup: c.close,
				pair:    c.run,
			})
		}
	}
	return out
}

// stepCase holds a step case's batch (the same tensors on both sides) and the folder of
// its files.
type stepCase struct {
	model string
	batch int
	dir   string
	b     *loader.Batch
	err   error
}

// prepare makes the batch and writes it (once): images [B,3,300,300] from a standard
// normal, and the targets of stepGT random boxes per image matched to the model's priors.
func (c *stepCase) prepare() error {
	if c.b != nil || c.err != nil {
		return c.err
	}
	c.err = c.make()
	return c.err
}

func (c *stepCase) make() error {
	gen, err := anchors.Build(models[c.model].anchors)
	if err != nil {
		return err
	}
	priors, err := gen.Priors()
	if err != nil {
		return err
	}
	defer priors.MustDrop()
	m, err := target.NewMatcher(priors, 0.5, boxes.DefaultVariances)
	if err != nil {
		return err
	}
	defer m.Close()
	s := torch.NewScope()
	defer s.Close()
	torch.ManualSeed(0)
	var locs, labs []ts.Tensor
	for i := 0; i < c.batch; i++ {
		loc, lab, err := m.Match(randomBoxes(s, stepGT), s.T(ts.MustRandintLow(1, 21, []int64{stepGT}, gotch.Int64, gotch.CPU)))
		if err != nil {
			return err
		}
		s.Ts(loc, lab)
		locs, labs = append(locs, *loc), append(labs, *lab)
	}
	b := &loader.Batch{
		Images: s.Keep(s.T(ts.MustRandn([]int64{int64(c.batch), 3, 300, 300}, gotch.Float, gotch.CPU))),
		Loc:    s.Keep(s.T(ts.MustStack(locs, 0))),
		Labels: s.Keep(s.T(ts.MustStack(labs, 0))),
	}
	for i := 0; i < c.batch; i++ {
		b.Indices, b.IDs, b.Sizes = append(b.Indices, i), append(b.IDs, fmt.Sprint(i)), append(b.Sizes, [2]int{300, 300})
	}
	dir, err := os.MkdirTemp("", "refbench-step-")
	if err != nil {
		b.Close()
		return err
	}
	c.b, c.dir = b, dir
	hyper, err := json.Marshal(stepHyper)
	if err != nil {
		return err
	}
	if err := writeTensor[float32](filepath.Join(dir, "images.f32"), b.Images); err != nil {
		return err
	}
	if err := writeTensor[float32](filepath.Join(dir, "loc.f32"), b.Loc); err != nil {
		return err
	}
	if err := writeTensor[int64](filepath.Join(dir, "labels.i64"), b.Labels); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "hyper.json"), hyper, 0o644)
}

// writeTensor writes t's values, little-endian in row-major order, to path.
func writeTensor[T float32 | int64](path string, t *ts.Tensor) error {
	v := make([]T, t.Numel())
	if err := torch.CopyTo(t, v); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, v); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

func (c *stepCase) refArg() (string, error) {
	if err := c.prepare(); err != nil {
		return "", err
	}
	return fmt.Sprintf("step:%s/%d:%s", c.model, c.batch, c.dir), nil
}

// run builds the model, loss and optimizer of the model's builtin experiment (fresh
// weights) and returns runner apply's step on the case's batch.
func (c *stepCase) run() (step func() error, done func(), err error) {
	if err := c.prepare(); err != nil {
		return nil, nil, err
	}
	exp := filepath.Join(c.dir, "step.hcl")
	text := fmt.Sprintf("inherits = %q\n\nmodel {\n  num_classes = 21\n}\n", "builtin:"+c.model)
	if err := os.WriteFile(exp, []byte(text), 0o644); err != nil {
		return nil, nil, err
	}
	vars := []string{fmt.Sprintf("lr=%g", stepHyper.LR), fmt.Sprintf("base_net_lr=%g", stepHyper.BaseNetLR), fmt.Sprintf("extra_layers_lr=%g", stepHyper.ExtraLR)}
	res, diags := config.Load(exp, config.Options{Vars: vars, NoTrainData: true})
	if diags.HasErrors() {
		return nil, nil, diags
	}
	if o := res.Experiment.Optimizer; o.Type != "sgd" || !equalNumber(o.Options["momentum"], stepHyper.Momentum) || !equalNumber(o.Options["weight_decay"], stepHyper.WeightDecay) {
		return nil, nil, fmt.Errorf("builtin:%s trains with %s %v, not the reference's SGD (momentum %g, weight decay %g)", c.model, o.Type, o.Options, stepHyper.Momentum, stepHyper.WeightDecay)
	}
	r, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoData: true})
	if err != nil {
		return nil, nil, err
	}
	st := train.NewStepper(r)
	step = func() error {
		_, _, err := st.Step(c.b)
		return err
	}
	return step, r.Close, nil
}

func (c *stepCase) time(reps int) (measured, error) {
	step, done, err := c.run()
	if err != nil {
		return measured{}, err
	}
	defer done()
	return timeReps(reps, step)
}

// countOps counts the libtorch ops of one step after a warm-up step.
func (c *stepCase) countOps() (map[string]int64, error) {
	return countAfterWarmup(c.run())
}

func (c *stepCase) close() {
	if c.b != nil {
		c.b.Close()
		c.b = nil
	}
	if c.dir != "" {
		os.RemoveAll(c.dir)
		c.dir = ""
	}
}

// equalNumber reports whether an experiment's option value is the number want.
func equalNumber(v any, want float64) bool {
	switch x := v.(type) {
	case float64:
		return x == want
	case int:
		return float64(x) == want
	case int64:
		return float64(x) == want
	}
	return false
}
