package scheduler

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// goldenCase is one schedule run through PyTorch by testdata/gen_golden.py.
type goldenCase struct {
	Name          string         `json:"name"`
	Type          string         `json:"type"`
	Options       map[string]any `json:"options"`
	Base          float64        `json:"base"`
	StepsPerEpoch int            `json:"steps_per_epoch"`
	LR            []float64      `json:"lr"`
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Cases []goldenCase }
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("golden.json has no cases")
	}
	return g.Cases
}

// intsFromJSON turns whole JSON numbers (float64) into ints, as the experiment decoder
// hands integer options over.
func intsFromJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) {
			return int(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = intsFromJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = intsFromJSON(e)
		}
		return out
	}
	return v
}

func buildCase(t *testing.T, c goldenCase, extra map[string]any) Schedule {
	t.Helper()
	opts := intsFromJSON(c.Options).(map[string]any)
	for k, v := range extra {
		opts[k] = v
	}
	s, err := Build(registry.Ref{Type: c.Type, Options: opts})
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return s
}

// progressAt returns the progress of golden index i: an epoch for epoch cases, the global
// step for step cases.
func progressAt(c goldenCase, i int) Progress {
	if c.StepsPerEpoch == 0 {
		return Progress{Epoch: i}
	}
	return Progress{Epoch: i / c.StepsPerEpoch, Step: i % c.StepsPerEpoch, StepsPerEpoch: c.StepsPerEpoch}
}

// relTol is the agreement required with PyTorch. PyTorch computes most rates recursively
// (each from the previous one), so the last bits drift; rates that PyTorch brings to
// exactly 0 are compared with absTol.
const (
	relTol = 1e-12
	absTol = 1e-18
)

func agrees(got, want float64) bool {
	return math.Abs(got-want) <= relTol*math.Abs(want)+absTol
}

func TestGoldenPyTorch(t *testing.T) {
	for _, c := range loadGolden(t) {
		t.Run(c.Name, func(t *testing.T) {
			s := buildCase(t, c, nil)
			worst := 0.0
			for i, want := range c.LR {
				got := s.LR(c.Base, progressAt(c, i))
				if want != 0 {
					worst = max(worst, math.Abs(got-want)/math.Abs(want))
				}
				if !agrees(got, want) {
					t.Errorf("index %d (%+v): lr %.17g, PyTorch %.17g", i, progressAt(c, i), got, want)
				}
			}
			t.Logf("%d rates, worst relative difference %.3g", len(c.LR), worst)
		})
	}
}

// TestEpochOffsetShiftsByOne checks that epoch_offset = 1 gives, at epoch e, PyTorch's rate
// of epoch e+1: what the reference train_ssd.py trains with.
func TestEpochOffsetShiftsByOne(t *testing.T) {
	n := 0
	for _, c := range loadGolden(t) {
		if c.StepsPerEpoch != 0 {
			continue
		}
		n++
		s := buildCase(t, c, map[string]any{"epoch_offset": 1})
		for e := 0; e+1 < len(c.LR); e++ {
			if got, want := s.LR(c.Base, Progress{Epoch: e}), c.LR[e+1]; !agrees(got, want) {
				t.Errorf("%s epoch %d: lr %.17g with epoch_offset 1, want PyTorch's epoch %d rate %.17g", c.Name, e, got, e+1, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("no epoch cases in golden.json")
	}
}
