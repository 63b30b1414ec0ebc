package backbone_test

// Test helpers shared by the backbone tests: building, running and freeing, and the
// checks that every backbone gets: output shapes, errors, a training forward and backward
// pass, and a flat C heap over repeated eval forward passes.

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/backbone"
	"github.com/ssdrunner/ssdrunner/components/model"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// build creates a backbone through the registry in a fresh VarStore.
func build(t *testing.T, typ string, opts map[string]any) (backbone.Backbone, *nn.VarStore) {
	t.Helper()
	vs := nn.NewVarStore(gotch.CPU)
	bb, err := backbone.Build(registry.Ref{Type: typ, Options: opts}, vs.Root())
	if err != nil {
		t.Fatalf("%s %v: %v", typ, opts, err)
	}
	return bb, vs
}

// skipShort skips the test in -short mode: "<what> skipped in -short mode (<why>)".
func skipShort(t *testing.T, what string, why ...string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	msg := what + " skipped in -short mode"
	if len(why) > 0 {
		msg += " (" + strings.Join(why, ", ") + ")"
	}
	t.Skip(msg)
}

func mustGet(t *testing.T, vs *nn.VarStore, name string) *ts.Tensor {
	t.Helper()
	v, err := vs.Root().Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// absMax returns max |x|.
func absMax(x *ts.Tensor) float64 {
	return x.MustAbs(false).MustMax(true).Float64Values(true)[0]
}

// absSum returns the sum of |x| in float64.
func absSum(x *ts.Tensor) float64 {
	return x.MustAbs(false).MustSum(gotch.Double, true).Float64Values(true)[0]
}

// stdDev returns the (unbiased) standard deviation of x's values.
func stdDev(x *ts.Tensor) float64 {
	return x.MustStd(true, false).Float64Values(true)[0]
}

// maxAbsDiff returns max |a - b|.
func maxAbsDiff(a, b *ts.Tensor) float64 {
	d := a.MustSub(b, false).MustAbs(true).MustMax(true)
	return d.MustTotype(gotch.Double, true).Float64Values(true)[0]
}

// dropAll frees the tensors.
func dropAll(tensors []*ts.Tensor) {
	for _, x := range tensors {
		x.MustDrop()
	}
}

// gradMode runs f with libtorch's gradient recording on or off (per OS thread, so the
// goroutine stays on its thread meanwhile), then restores it.
func gradMode(t *testing.T, enabled bool, f func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := torch.SetGradEnabled(enabled)
	if err != nil {
		t.Fatal(err)
	}
	defer torch.SetGradEnabled(prev)
	f()
}

// evalForward runs bb's eval forward pass on x without gradients; the caller owns the
// feature maps.
func evalForward(t *testing.T, bb backbone.Backbone, x *ts.Tensor) []*ts.Tensor {
	t.Helper()
	var feats []*ts.Tensor
	var err error
	gradMode(t, false, func() { feats, err = bb.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	return feats
}

// ssdEval runs m's backbone and then the whole model in eval mode on x without
// gradients; the caller owns the feature maps, conf and loc.
func ssdEval(t *testing.T, m *model.SSD, x *ts.Tensor) (feats []*ts.Tensor, conf, loc *ts.Tensor) {
	t.Helper()
	var err error
	gradMode(t, false, func() {
		if feats, err = m.Backbone.Forward(x, false); err != nil {
			return
		}
		conf, loc, err = m.Forward(x, false)
	})
	if err != nil {
		dropAll(feats)
		t.Fatal(err)
	}
	return feats, conf, loc
}

// checkShapes checks that feature map i is [batch, channels[i], hw[i], hw[i]].
func checkShapes(t *testing.T, feats []*ts.Tensor, batch int64, channels []int, hw []int64) {
	t.Helper()
	if len(feats) != len(hw) {
		t.Fatalf("%d feature maps, want %d", len(feats), len(hw))
	}
	for i, f := range feats {
		sz := f.MustSize()
		if len(sz) != 4 || sz[0] != batch || sz[1] != int64(channels[i]) || sz[2] != hw[i] || sz[3] != hw[i] {
			t.Errorf("feature %d: shape %v, want [%d %d %d %d]", i, sz, batch, channels[i], hw[i], hw[i])
		}
	}
}

// checkModules checks that bb.Modules() lists exactly want, in order.
func checkModules(t *testing.T, bb backbone.Backbone, want ...string) {
	t.Helper()
	if got := bb.Modules(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Modules() = %v", got)
	}
}

// checkBuildError checks that building typ with opts under root fails with an error
// containing want.
func checkBuildError(t *testing.T, root *nn.Path, typ string, opts map[string]any, want string) {
	t.Helper()
	_, err := backbone.Build(registry.Ref{Type: typ, Options: opts}, root)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s options %v: error %v, want it to contain %q", typ, opts, err, want)
	}
}

// checkForwardError checks that bb's forward pass (training or eval) on zeros of the
// given shape fails with an error containing want.
func checkForwardError(t *testing.T, bb backbone.Backbone, shape []int64, train bool, want string) {
	t.Helper()
	x := ts.MustZeros(shape, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	if _, err := bb.Forward(x, train); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("input %v, train %v: error %v, want it to contain %q", shape, train, err, want)
	}
}

// backwardAll sums every element of the outputs, runs the backward pass and checks
// that every trainable variable of vs got a finite, not entirely zero gradient.
func backwardAll(t *testing.T, vs *nn.VarStore, outs []*ts.Tensor) {
	t.Helper()
	var total *ts.Tensor
	for _, f := range outs {
		s := f.MustSum(gotch.Float, false)
		if total == nil {
			total = s
			continue
		}
		total = total.MustAdd(s, true)
		s.MustDrop()
	}
	total.MustBackward()
	total.MustDrop()
	for name, v := range vs.Variables() {
		if !v.MustRequiresGrad() {
			continue
		}
		g := v.MustGrad(false)
		abs := g.MustAbs(false)
		mx := abs.MustMax(false).Float64Values(true)[0]
		sum := abs.MustSum(gotch.Double, true).Float64Values(true)[0]
		g.MustDrop()
		if math.IsNaN(sum) || math.IsInf(sum, 0) || mx == 0 {
			t.Errorf("%s: gradient max |g| %v, sum |g| %v", name, mx, sum)
		}
	}
}

// trainPass is a training forward pass whose outputs checkBackward checks and frees.
type trainPass func(x *ts.Tensor) ([]*ts.Tensor, error)

// backboneTrain is bb's training forward pass: its feature maps.
func backboneTrain(bb backbone.Backbone) trainPass {
	return func(x *ts.Tensor) ([]*ts.Tensor, error) { return bb.Forward(x, true) }
}

// modelTrain is m's training forward pass: conf and loc.
func modelTrain(m *model.SSD) trainPass {
	return func(x *ts.Tensor) ([]*ts.Tensor, error) {
		conf, loc, err := m.Forward(x, true)
		if err != nil {
			return nil, err
		}
		return []*ts.Tensor{conf, loc}, nil
	}
}

// checkBackward runs pass on a random input of the given shape with gradients recorded,
// hands its outputs to check, and runs the backward pass of their sum: every trainable
// variable of vs must get a finite, not entirely zero gradient (backwardAll). With stat
// set, that batch norm's running statistic must be zero before the pass and not after.
func checkBackward(t *testing.T, vs *nn.VarStore, shape []int64, stat string, pass trainPass, check func(outs []*ts.Tensor)) {
	t.Helper()
	var before float64
	if stat != "" {
		before = absSum(mustGet(t, vs, stat))
	}
	x := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	gradMode(t, true, func() {
		outs, err := pass(x)
		if err != nil {
			t.Fatal(err)
		}
		defer dropAll(outs)
		check(outs)
		backwardAll(t, vs, outs)
	})
	t.Logf("forward+backward, batch %d, %d×%d: %v", shape[0], shape[2], shape[3], time.Since(start))
	if stat == "" {
		return
	}
	if after := absSum(mustGet(t, vs, stat)); before != 0 || after == 0 {
		t.Errorf("%s: |running statistic| summed %v before and %v after a training pass", stat, before, after)
	}
}

// checkBackboneBackward is checkBackward of bb's feature maps, which must be
// [batch, Channels()[i], wantHW[i], wantHW[i]].
func checkBackboneBackward(t *testing.T, bb backbone.Backbone, vs *nn.VarStore, shape []int64, wantHW []int64, stat string) {
	t.Helper()
	checkBackward(t, vs, shape, stat, backboneTrain(bb), func(feats []*ts.Tensor) {
		checkShapes(t, feats, shape[0], bb.Channels(), wantHW)
	})
}

// evalPass is an eval forward pass that frees its outputs.
type evalPass func(x *ts.Tensor) error

// backboneEval is bb's eval forward pass.
func backboneEval(bb backbone.Backbone) evalPass {
	return func(x *ts.Tensor) error {
		feats, err := bb.Forward(x, false)
		dropAll(feats)
		return err
	}
}

// modelEval is m's eval forward pass (conf and loc).
func modelEval(m *model.SSD) evalPass {
	return func(x *ts.Tensor) error {
		conf, loc, err := m.Forward(x, false)
		if err != nil {
			return err
		}
		conf.MustDrop()
		loc.MustDrop()
		return nil
	}
}

// checkEvalMemory runs pass without gradients on a random input of the given shape,
// warmup times and then steps times (torch.MeasureGrowth), and fails if the C heap grew
// by more than bound bytes per measured pass.
func checkEvalMemory(t *testing.T, pass evalPass, shape []int64, warmup, steps int, bound float64) {
	t.Helper()
	x := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	start := time.Now()
	var g torch.Growth
	gradMode(t, false, func() {
		var err error
		g, err = torch.MeasureGrowth(warmup, steps, func(int) error { return pass(x) })
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d forward passes in %v; per pass: C heap %+.1f KB, RSS %+.1f KB",
		warmup+steps, time.Since(start), g.MallocPerStep()/1024, g.RSSPerStep()/1024)
	if g.MallocPerStep() > bound {
		t.Errorf("the C heap grew by %.1f KB per forward pass", g.MallocPerStep()/1024)
	}
}
