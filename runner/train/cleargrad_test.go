package train

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/optimizer"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// zeroingOptimizer clears gradients the way torch 1.13's zero_grad() does, in place.
type zeroingOptimizer struct{ optimizer.Optimizer }

func (z zeroingOptimizer) ClearGrad() { z.Optimizer.ZeroGrad() }

// TestClearGradSameUpdate: the step clears the gradients (set to none) where the
// reference's train_ssd.py zeroes them in place; every parameter of an SSD gets a
// gradient at every step, so the updates are the same. Three steps of the tiny model from
// the same weights on the same batches leave every parameter and momentum buffer equal
// value for value (==: 0 + -0 is +0, so only the sign of a zero could differ).
func TestClearGradSameUpdate(t *testing.T) {
	torch.SetThreads(1)
	res := load(t, t.TempDir(), tinyExperiment, "model.num_classes=4")
	batches := func(classes, priors int64) []*loader.Batch {
		torch.ManualSeed(7)
		var out []*loader.Batch
		for i := 0; i < 3; i++ {
			s := torch.NewScope()
			pos := s.T(s.T(ts.MustRand([]int64{4, priors}, gotch.Float, gotch.CPU)).MustLt(s.Float(0.05), false))
			cls := s.T(ts.MustRandintLow(1, classes, []int64{4, priors}, gotch.Int64, gotch.CPU))
			b := &loader.Batch{
				Images:  s.Keep(s.T(ts.MustRandn([]int64{4, 3, 300, 300}, gotch.Float, gotch.CPU))),
				Loc:     s.Keep(s.T(ts.MustRandn([]int64{4, priors, 4}, gotch.Float, gotch.CPU))),
				Labels:  s.Keep(s.T(cls.MustMul(pos, false))),
				Indices: []int{0, 1, 2, 3}, IDs: []string{"0", "1", "2", "3"},
				Sizes: [][2]int{{300, 300}, {300, 300}, {300, 300}, {300, 300}},
			}
			s.Close()
			out = append(out, b)
		}
		return out
	}
	train := func(zeroing bool) map[string][]float64 {
		run, err := build.Build(res, build.Options{Log: zerolog.Nop(), NoData: true})
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		if zeroing {
			run.Optimizer = zeroingOptimizer{run.Optimizer}
		}
		out := map[string][]float64{}
		vars := modelVars(run.Model)
		var priors, classes int64
		torch.NoGrad(func() error {
			probe := ts.MustZeros([]int64{1, 3, 300, 300}, gotch.Float, gotch.CPU)
			defer probe.MustDrop()
			conf, loc, err := run.Model.Forward(probe, false)
			if err != nil {
				t.Fatal(err)
			}
			priors, classes = conf.MustSize()[1], conf.MustSize()[2]
			conf.MustDrop()
			loc.MustDrop()
			return nil
		})
		for name, v := range vars {
			out["init "+name] = v.Float64Values()
		}
		st := NewStepper(run)
		for i, b := range batches(classes, priors) {
			if _, _, err := st.Step(b); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			b.Close()
		}
		for name, v := range vars {
			out[name] = v.Float64Values()
		}
		state := run.Optimizer.State()
		for name, v := range state {
			out["state "+name] = v.Float64Values()
			v.MustDrop()
		}
		return out
	}
	cleared, zeroed := train(false), train(true)
	if len(cleared) != len(zeroed) || len(cleared) < 10 {
		t.Fatalf("%d tensors after clearing, %d after zeroing", len(cleared), len(zeroed))
	}
	moved := 0
	for name, v := range vars(zeroed) {
		if !slices.Equal(v, zeroed["init "+name]) {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("the steps moved no parameter")
	}
	for name, want := range zeroed {
		got := cleared[name]
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
				t.Fatalf("%s[%d] = %v after clearing, %v after zeroing", name, i, got[i], want[i])
			}
		}
	}
}

// vars returns the entries of a train result that are parameters after the steps.
func vars(m map[string][]float64) map[string][]float64 {
	out := map[string][]float64{}
	for k, v := range m {
		if !strings.HasPrefix(k, "init ") && !strings.HasPrefix(k, "state ") {
			out[k] = v
		}
	}
	return out
}
