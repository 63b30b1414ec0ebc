package optimizer

import (
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

func TestRegistered(t *testing.T) {
	want := "adam,adamw,rmsprop,sgd"
	if got := strings.Join(Registry.Names(), ","); got != want {
		t.Fatalf("registered %s, want %s", got, want)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		typ  string
		opts map[string]any
		want string
	}{
		{"sgd", map[string]any{}, `missing required option "lr"`},
		{"sgd", map[string]any{"lr": -0.1}, "lr must be >= 0"},
		{"sgd", map[string]any{"lr": 0.1, "momentum": -0.9}, "momentum must be >= 0"},
		{"sgd", map[string]any{"lr": 0.1, "weight_decay": -1.0}, "weight_decay must be >= 0"},
		{"sgd", map[string]any{"lr": 0.1, "nesterov": true}, "nesterov needs momentum > 0 and dampening = 0"},
		{"sgd", map[string]any{"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": true}, "nesterov needs momentum > 0 and dampening = 0"},
		{"sgd", map[string]any{"lr": 0.1, "momentun": 0.9}, `did you mean "momentum"?`},
		{"adam", map[string]any{"betas": []float64{0.9, 0.99, 0.9}}, "betas must hold 2 numbers, got 3"},
		{"adam", map[string]any{"betas": []float64{0.9, 1.0}}, "betas[1] must be in [0, 1)"},
		{"adamw", map[string]any{"eps": -1e-8}, "eps must be >= 0"},
		{"rmsprop", map[string]any{"alpha": 1.0}, "alpha must be in [0, 1)"},
		{"rmsprop", map[string]any{"momentum": -1.0}, "momentum must be >= 0"},
	}
	for _, c := range cases {
		_, err := Build(registry.Ref{Type: c.typ, Options: c.opts}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want it to contain %q", c.typ, c.opts, err, c.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		ref    registry.Ref
		lr, wd float64
	}{
		{registry.Ref{Type: "sgd", Options: map[string]any{"lr": 0.01, "weight_decay": 5e-4}}, 0.01, 5e-4},
		{registry.Ref{Type: "adam"}, 1e-3, 0},
		{registry.Ref{Type: "adamw"}, 1e-3, 0.01},
		{registry.Ref{Type: "rmsprop", Options: map[string]any{"lr": 0.5}}, 0.5, 0},
	}
	for _, c := range cases {
		lr, wd, err := Defaults(c.ref)
		if err != nil || lr != c.lr || wd != c.wd {
			t.Errorf("Defaults(%v) = %g, %g, %v; want %g, %g", c.ref, lr, wd, err, c.lr, c.wd)
		}
	}
	if _, _, err := Defaults(registry.Ref{Type: "sgd"}); err == nil {
		t.Error("Defaults(sgd without lr): no error")
	}
}

func sgdRef() registry.Ref {
	return registry.Ref{Type: "sgd", Options: map[string]any{"lr": 0.1, "momentum": 0.9}}
}

func TestGroupValidation(t *testing.T) {
	a := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	alias := a.MustShallowClone() // another handle on the same tensor
	defer alias.MustDrop()
	b := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	ints := ts.MustOnes([]int64{3}, gotch.Int64, gotch.CPU)
	defer ints.MustDrop()
	cases := []struct {
		groups []Group
		want   string
	}{
		{nil, "no parameter groups"},
		{[]Group{{Name: "empty", LR: 0.1}}, "hold no parameters"},
		{[]Group{{Name: "neg", Params: []*ts.Tensor{a}, LR: -1}}, `group 0 ("neg"): learning rate must be >= 0`},
		{[]Group{{Name: "wd", Params: []*ts.Tensor{a}, LR: 1, WeightDecay: -1}}, `group 0 ("wd"): weight decay must be >= 0`},
		{[]Group{{Name: "x", Params: []*ts.Tensor{a, nil}}}, "parameter 1 is nil"},
		{[]Group{{Name: "x", Params: []*ts.Tensor{ints}}}, "only float32 and float64 parameters"},
		{[]Group{{Name: "x", Params: []*ts.Tensor{a, b}}, {Name: "y", Params: []*ts.Tensor{alias}}},
			`group 1 ("y") parameter 0 is the same tensor as group 0 ("x") parameter 0`},
	}
	for _, c := range cases {
		opt, err := Build(sgdRef(), c.groups)
		if err == nil {
			opt.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("groups %v: error %v, want it to contain %q", c.groups, err, c.want)
		}
	}
}

// stepped builds the golden case name, runs n steps and returns the optimizer and the
// parameters (the caller closes and drops them).
func stepped(t *testing.T, name string, n int) (*golden, Optimizer, []*ts.Tensor) {
	t.Helper()
	g := loadGolden(t)
	for i := range g.Cases {
		if c := &g.Cases[i]; c.Name == name {
			params := g.newParams()
			opt := c.build(t, params)
			c.runSteps(t, g, opt, params, 0, n)
			return g, opt, params
		}
	}
	t.Fatalf("no golden case %q", name)
	return nil, nil, nil
}

func sortedKeys(m map[string]*ts.Tensor) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func dropState(m map[string]*ts.Tensor) {
	for _, t := range m {
		t.MustDrop()
	}
}

func TestStateNames(t *testing.T) {
	// After 3 steps: the frozen p3 (group 1, index 1) has no state, p4 (group 1, index 2)
	// got gradients in step 2 only, so Adam counts 1 step for it and 3 for the others.
	_, opt, params := stepped(t, "adam", 3)
	defer dropAll(params)
	defer opt.Close()
	st := opt.State()
	defer dropState(st)
	want := []string{}
	for _, p := range []string{"g0.p0", "g0.p1", "g0.p2", "g1.p0", "g1.p2"} {
		for _, n := range []string{"exp_avg", "exp_avg_sq", "step"} {
			want = append(want, p+"."+n)
		}
	}
	sort.Strings(want)
	if got := sortedKeys(st); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("state names\n got %v\nwant %v", got, want)
	}
	for k, n := range map[string]float64{"g0.p0.step": 3, "g1.p2.step": 1} {
		if v := st[k].Float64Values()[0]; v != n {
			t.Errorf("%s = %g, want %g", k, v, n)
		}
	}

	_, sgd, params2 := stepped(t, "sgd_momentum", 1)
	defer dropAll(params2)
	defer sgd.Close()
	st2 := sgd.State()
	defer dropState(st2)
	if got := strings.Join(sortedKeys(st2), " "); got != "g0.p0.momentum_buffer g0.p1.momentum_buffer g0.p2.momentum_buffer g1.p0.momentum_buffer" {
		t.Errorf("sgd state names: %s", got)
	}
}

func TestLoadStateErrors(t *testing.T) {
	_, opt, params := stepped(t, "adam", 1)
	defer dropAll(params)
	defer opt.Close()
	good := opt.State()
	defer dropState(good)
	wrongShape := ts.MustZeros([]int64{2, 2}, gotch.Float, gotch.CPU)
	defer wrongShape.MustDrop()
	negStep := ts.MustScalarTensor(ts.FloatScalar(-1), gotch.Double, gotch.CPU)
	defer negStep.MustDrop()
	with := func(edit func(m map[string]*ts.Tensor)) map[string]*ts.Tensor {
		m := map[string]*ts.Tensor{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		return m
	}
	cases := []struct {
		m    map[string]*ts.Tensor
		want string
	}{
		{with(func(m map[string]*ts.Tensor) { delete(m, "g0.p1.exp_avg_sq") }), `state entry "g0.p1.exp_avg_sq" is missing`},
		{with(func(m map[string]*ts.Tensor) { delete(m, "g1.p0.step") }), `state entry "g1.p0.step" is missing`},
		{with(func(m map[string]*ts.Tensor) { m["g0.p0.exp_avg"] = wrongShape }), `"g0.p0.exp_avg" has shape [2 2], but the parameter has shape [3 4]`},
		{with(func(m map[string]*ts.Tensor) { m["g0.p0.momentum_buffer"] = wrongShape }), `unknown name "momentum_buffer" (this optimizer keeps: exp_avg, exp_avg_sq, step)`},
		{with(func(m map[string]*ts.Tensor) { m["g2.p0.exp_avg"] = wrongShape }), "no group 2 (the optimizer has 2)"},
		{with(func(m map[string]*ts.Tensor) { m["g1.p7.exp_avg"] = wrongShape }), "group 1 has no parameter 7 (it has 3)"},
		{with(func(m map[string]*ts.Tensor) { m["momentum"] = wrongShape }), `state entry "momentum": want a name like`},
		{with(func(m map[string]*ts.Tensor) { m["g0.p0.step"] = negStep }), `"g0.p0.step" is -1, want a whole number >= 0`},
	}
	for _, c := range cases {
		if err := opt.LoadState(c.m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to contain %q", err, c.want)
		}
	}
	// A failed load changes nothing.
	after := opt.State()
	defer dropState(after)
	if strings.Join(sortedKeys(after), ",") != strings.Join(sortedKeys(good), ",") {
		t.Fatalf("state changed by failed loads: %v", sortedKeys(after))
	}
	// An empty state restarts every parameter.
	if err := opt.LoadState(nil); err != nil {
		t.Fatal(err)
	}
	if empty := opt.State(); len(empty) != 0 {
		dropState(empty)
		t.Fatalf("state after loading an empty one: %d entries", len(empty))
	}
}

func TestLRAndClose(t *testing.T) {
	g, opt, params := stepped(t, "sgd_plain", 0)
	defer dropAll(params)
	if opt.LR(0) != g.Cases[0].Groups[0].LR {
		t.Errorf("LR(0) = %g", opt.LR(0))
	}
	opt.SetLR(1, 0.25)
	if opt.LR(1) != 0.25 {
		t.Errorf("LR(1) after SetLR = %g", opt.LR(1))
	}
	opt.SetLR(1, -1)
	if err := opt.Step(); err == nil || !strings.Contains(err.Error(), "learning rate must be >= 0") {
		t.Errorf("Step with a negative lr: %v", err)
	}
	opt.SetLR(1, 0.25)
	opt.Close()
	opt.Close()
	if err := opt.Step(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Step after Close: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetLR(5): no panic for a group out of range")
		}
	}()
	opt.SetLR(5, 0.1)
}

// TestHandlesAndGradMode checks that Step updates parameters through the caller's handles
// without replacing them (a copy of a handle, as VarStore.Variables gives, stays valid and
// sees the update), zeroes gradients, and leaves gradient tracking on; and that ClearGrad
// leaves no gradient, so that Step skips the parameter.
func TestHandlesAndGradMode(t *testing.T) {
	orig := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	defer orig.MustDrop()
	cp := *orig // another Tensor struct holding the same handle
	handle := cp.Ctensor()
	opt, err := Build(registry.Ref{Type: "adam", Options: map[string]any{"lr": 0.5}}, []Group{{Params: []*ts.Tensor{&cp}, LR: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	for i := 0; i < 3; i++ {
		opt.ZeroGrad()
		loss := orig.MustSum(gotch.Float, false)
		loss.MustBackward()
		loss.MustDrop()
		runtime.LockOSThread()
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		on, err := torch.SetGradEnabled(true)
		runtime.UnlockOSThread()
		if err != nil || !on {
			t.Fatalf("gradient tracking after Step: %v, %v", on, err)
		}
	}
	if cp.Ctensor() != handle || orig.Ctensor() != handle {
		t.Fatal("Step replaced the parameter's handle")
	}
	// Adam moves each value by about lr per step: 1 - 3·0.5.
	if v := orig.Float64Values()[0]; v > -0.4 || v < -0.6 {
		t.Errorf("value after 3 steps = %g, want about -0.5", v)
	}
	opt.ZeroGrad()
	grad := orig.MustGrad(false)
	defer grad.MustDrop()
	if s := grad.MustAbs(false).MustSum(gotch.Double, true).Float64Values(true)[0]; s != 0 {
		t.Errorf("gradient after ZeroGrad sums to %g", s)
	}

	// ClearGrad: no gradient at all, and Step then leaves the parameter alone (Adam
	// would still move it with a zero gradient, from its moments)
	opt.ClearGrad()
	cleared := orig.MustGrad(false)
	defer cleared.MustDrop()
	if cleared.MustDefined() {
		t.Fatal("gradient defined after ClearGrad")
	}
	before := orig.Float64Values()[0]
	runtime.LockOSThread()
	err = opt.Step()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if v := orig.Float64Values()[0]; v != before {
		t.Errorf("Step after ClearGrad moved the parameter from %g to %g", before, v)
	}
}

func rssMB(t *testing.T) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestNoTensorLeak runs steps on a 36 MB parameter (above glibc's largest mmap threshold,
// so every tensor of that size is mapped and unmapped on its own and the resident memory
// follows the live tensors exactly): a temporary or a state tensor leaked per step would
// grow the memory by 36 MB a step.
func TestNoTensorLeak(t *testing.T) {
	const n, steps = 9 << 20, 4
	for _, typ := range []string{"sgd", "adam", "rmsprop"} {
		p := ts.MustZeros([]int64{n}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
		opts := map[string]any{"lr": 0.01, "weight_decay": 1e-4}
		switch typ {
		case "sgd":
			opts["momentum"], opts["nesterov"] = 0.9, true
		case "adam":
			opts["amsgrad"] = true
		case "rmsprop":
			opts["centered"], opts["momentum"] = true, 0.5
		}
		opt, err := Build(registry.Ref{Type: typ, Options: opts}, []Group{{Params: []*ts.Tensor{p}, LR: 0.01, WeightDecay: 1e-4}})
		if err != nil {
			t.Fatal(err)
		}
		var before float64
		for i := 0; i < steps+2; i++ {
			if i == 2 {
				before = rssMB(t)
			}
			opt.ZeroGrad()
			loss := p.MustSum(gotch.Float, false)
			loss.MustBackward()
			loss.MustDrop()
			opt.SetLR(0, 0.01/float64(i+1)) // a new coefficient every step
			if err := opt.Step(); err != nil {
				t.Fatal(err)
			}
			if i == steps {
				dropState(opt.State())
			}
		}
		grown := rssMB(t) - before
		opt.Close()
		p.MustDrop()
		t.Logf("%s: resident memory grew %.1f MB over %d steps", typ, grown, steps)
		if grown > 30 {
			t.Errorf("%s: resident memory grew %.0f MB over %d steps of a 36 MB parameter: tensors leak", typ, grown, steps)
		}
	}
}
