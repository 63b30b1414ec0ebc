package scheduler

import (
	"math"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

func mustBuild(t *testing.T, typ string, opts map[string]any) Schedule {
	t.Helper()
	s, err := Build(registry.Ref{Type: typ, Options: opts})
	if err != nil {
		t.Fatalf("%s %v: %v", typ, opts, err)
	}
	return s
}

func TestRegistered(t *testing.T) {
	want := []string{"constant", "cosine", "multi_step", "step"}
	if got := Registry.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("registered %v, want %v", got, want)
	}
	for _, n := range want {
		e, err := Registry.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		fields, err := registry.Describe(e.NewConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := registry.FieldByPath(fields, []string{"warmup", "start_factor"}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		if _, err := registry.FieldByPath(fields, []string{"epoch_offset"}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		typ  string
		opts map[string]any
		want string
	}{
		{"cosine", map[string]any{}, `missing required option "t_max"`},
		{"cosine", map[string]any{"t_max": 0}, "t_max must be > 0"},
		{"cosine", map[string]any{"t_max": 10, "eta_min": -1.0}, "eta_min must be >= 0"},
		{"multi_step", map[string]any{"milestones": []int{}}, "milestones must list at least one epoch"},
		{"multi_step", map[string]any{"milestones": []int{80, 80}}, "milestones must be strictly increasing: milestones[1] = 80 follows 80"},
		{"multi_step", map[string]any{"milestones": []int{0, 10}}, "milestones[0] must be > 0"},
		{"multi_step", map[string]any{"milestones": []int{10}, "gamma": 0.0}, "gamma must be > 0"},
		{"step", map[string]any{"step_size": 0}, "step_size must be > 0"},
		{"step", map[string]any{"step_size": 3, "gamma": -0.5}, "gamma must be > 0"},
		{"constant", map[string]any{"epoch_offset": -1}, "epoch_offset must be >= 0"},
		{"constant", map[string]any{"warmup": map[string]any{}}, `missing required option "warmup.epochs"`},
		{"constant", map[string]any{"warmup": map[string]any{"epochs": -1}}, "warmup.epochs must be >= 0"},
		{"constant", map[string]any{"warmup": map[string]any{"epochs": 1e18}}, "warmup.epochs must be at most 1e+06, got 1e+18"},
		{"constant", map[string]any{"warmup": map[string]any{"epochs": 1, "start_factor": 1.5}}, "warmup.start_factor must be in [0, 1]"},
		{"constant", map[string]any{"warmup": map[string]any{"epochs": 1, "method": "cosine"}}, `warmup.method must be "linear" or "constant"`},
		{"cosine", map[string]any{"t_max": 5, "warmup": map[string]any{"epoch": 1}}, `unknown option "warmup.epoch"; did you mean "epochs"?`},
	}
	for _, c := range cases {
		_, err := Build(registry.Ref{Type: c.typ, Options: c.opts})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want it to contain %q", c.typ, c.opts, err, c.want)
		}
	}
}

func TestCosinePerStep(t *testing.T) {
	const base, tMax = 0.1, 4.0
	coarse := mustBuild(t, "cosine", map[string]any{"t_max": 4})
	smooth := mustBuild(t, "cosine", map[string]any{"t_max": 4, "per_step": true})
	p := Progress{Epoch: 1, Step: 5, StepsPerEpoch: 10}
	if got, want := coarse.LR(base, p), base*(1+math.Cos(math.Pi*1/tMax))/2; math.Abs(got-want) > 1e-15 {
		t.Errorf("per_step=false at %+v: %g, want the epoch-1 value %g", p, got, want)
	}
	if got, want := smooth.LR(base, p), base*(1+math.Cos(math.Pi*1.5/tMax))/2; math.Abs(got-want) > 1e-15 {
		t.Errorf("per_step=true at %+v: %g, want %g", p, got, want)
	}
	if got := smooth.LR(base, Progress{Epoch: 4}); math.Abs(got) > 1e-17 {
		t.Errorf("lr at t_max = %g, want eta_min 0", got)
	}
}

func TestWarmup(t *testing.T) {
	const base = 0.2
	// Half an epoch of linear warmup from 0.5, on a step schedule, with 4 steps per epoch.
	s := mustBuild(t, "step", map[string]any{"step_size": 1, "gamma": 0.5,
		"warmup": map[string]any{"epochs": 0.5, "start_factor": 0.5}})
	want := []float64{0.1, 0.15, 0.2, 0.2, 0.1}
	for k, w := range want {
		p := Progress{Epoch: k / 4, Step: k % 4, StepsPerEpoch: 4}
		if got := s.LR(base, p); math.Abs(got-w) > 1e-15 {
			t.Errorf("step %d: lr %g, want %g", k, got, w)
		}
	}
	// Warmup is counted from the real epoch, while epoch_offset shifts the schedule.
	s = mustBuild(t, "multi_step", map[string]any{"milestones": []int{1}, "epoch_offset": 1,
		"warmup": map[string]any{"epochs": 1, "method": "constant"}})
	if got := s.LR(base, Progress{Epoch: 0, StepsPerEpoch: 4}); math.Abs(got-0.1*0.1*base) > 1e-15 {
		t.Errorf("offset+warmup at epoch 0: %g, want %g", got, 0.1*0.1*base)
	}
	if got := s.LR(base, Progress{Epoch: 1, StepsPerEpoch: 4}); math.Abs(got-0.1*base) > 1e-15 {
		t.Errorf("offset+warmup at epoch 1: %g, want %g", got, 0.1*base)
	}
}

func TestAt(t *testing.T) {
	s := mustBuild(t, "multi_step", map[string]any{"milestones": []int{2, 4}})
	got := At(s, 1, 0, 0, 1, 2, 3, 4, 5)
	g := 0.1 // a variable, so that g*g is rounded like at run time
	want := []float64{1, 1, g, g, g * g, g * g}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("At = %v, want %v", got, want)
		}
	}
}
