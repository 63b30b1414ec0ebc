package optimizer

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// golden is testdata/golden.json, written by testdata/gen_golden.py with torch.optim.
type golden struct {
	Shapes [][]int64     `json:"shapes"`
	Frozen int           `json:"frozen"`
	Init   [][]float64   `json:"init"`
	Grads  [][][]float64 `json:"grads"` // [step][param], nil: no gradient
	Cases  []goldenCase  `json:"cases"`
}

type goldenCase struct {
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Options map[string]any `json:"options"`
	Groups  []struct {
		Params      []int   `json:"params"`
		LR          float64 `json:"lr"`
		WeightDecay float64 `json:"weight_decay"`
	} `json:"groups"`
	LRs   [][]float64   `json:"lrs"`   // [step][group]
	After [][][]float64 `json:"after"` // [step][param]
}

func loadGolden(t *testing.T) *golden {
	t.Helper()
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 || len(g.Init) != len(g.Shapes) {
		t.Fatal("golden.json is incomplete")
	}
	return &g
}

// floatTensor makes a float32 tensor of the given shape from float64 values.
func floatTensor(vals []float64, shape []int64) *ts.Tensor {
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return ts.MustOfSlice(f).MustView(shape, true)
}

// newParams creates the golden parameters; the frozen one does not require gradients.
func (g *golden) newParams() []*ts.Tensor {
	ps := make([]*ts.Tensor, len(g.Init))
	for i, v := range g.Init {
		ps[i] = floatTensor(v, g.Shapes[i]).MustSetRequiresGrad(i != g.Frozen, true)
	}
	return ps
}

func dropAll(ts []*ts.Tensor) {
	for _, t := range ts {
		t.MustDrop()
	}
}

// setGrads gives each parameter the golden gradient of a step (none where it is null) by
// back-propagating Σ sum(p·G): the gradient of p is then exactly G.
func (g *golden) setGrads(params []*ts.Tensor, step int) {
	s := torch.NewScope()
	defer s.Close()
	var loss *ts.Tensor
	for i, grad := range g.Grads[step] {
		if grad == nil {
			continue
		}
		G := s.T(floatTensor(grad, g.Shapes[i]))
		l := s.T(s.T(params[i].MustMul(G, false)).MustSum(gotch.Float, false))
		if loss == nil {
			loss = l
		} else {
			loss = s.T(loss.MustAdd(l, false))
		}
	}
	loss.MustBackward()
}

// build creates the case's optimizer over params.
func (c *goldenCase) build(t *testing.T, params []*ts.Tensor) Optimizer {
	t.Helper()
	groups := make([]Group, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = Group{Name: fmt.Sprintf("g%d", i), LR: g.LR, WeightDecay: g.WeightDecay}
		for _, pi := range g.Params {
			groups[i].Params = append(groups[i].Params, params[pi])
		}
	}
	opt, err := Build(registry.Ref{Type: c.Type, Options: c.Options}, groups)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return opt
}

// runSteps runs steps [from, to) of the case.
func (c *goldenCase) runSteps(t *testing.T, g *golden, opt Optimizer, params []*ts.Tensor, from, to int) {
	t.Helper()
	for s := from; s < to; s++ {
		for gi, lr := range c.LRs[s] {
			opt.SetLR(gi, lr)
		}
		opt.ZeroGrad()
		g.setGrads(params, s)
		if err := opt.Step(); err != nil {
			t.Fatalf("%s step %d: %v", c.Name, s, err)
		}
	}
}

// tolerance is the agreement required with torch.optim (float32 parameters), relative to
// 1 + |want|: torch adds scaled tensors with a fused multiply-add where this package rounds
// twice, so the last bit of each step may differ; the updates are element-wise (no sums
// whose order depends on the CPU), so five steps stay within a few ulps (2^-23 ≈ 1.2e-7
// each), and 1e-6 (~8 ulps) holds them while a wrong momentum, decay or bias correction
// moves parameters by 1e-4 or more.
const tolerance = 1e-6

// compare checks params against want and returns the largest difference and how many
// values were bit-for-bit equal.
func compare(t *testing.T, what string, params []*ts.Tensor, want [][]float64) (worst float64, exact, total int) {
	t.Helper()
	for i, p := range params {
		got := p.Float64Values()
		if len(got) != len(want[i]) {
			t.Fatalf("%s p%d: %d values, want %d", what, i, len(got), len(want[i]))
		}
		for j := range got {
			d := math.Abs(got[j] - want[i][j])
			worst = max(worst, d)
			if d == 0 {
				exact++
			}
			total++
			if d > tolerance*(1+math.Abs(want[i][j])) {
				t.Errorf("%s p%d[%d] = %.9g, torch %.9g", what, i, j, got[j], want[i][j])
			}
		}
	}
	return worst, exact, total
}

func TestGoldenTorchOptim(t *testing.T) {
	g := loadGolden(t)
	for i := range g.Cases {
		c := &g.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			params := g.newParams()
			defer dropAll(params)
			opt := c.build(t, params)
			defer opt.Close()
			worst, exact, total := 0.0, 0, 0
			for s := range c.After {
				c.runSteps(t, g, opt, params, s, s+1)
				w, e, n := compare(t, fmt.Sprintf("step %d", s), params, c.After[s])
				worst, exact, total = max(worst, w), exact+e, total+n
			}
			t.Logf("%d values over %d steps: %d bit-identical to torch, largest difference %.3g", total, len(c.After), exact, worst)
		})
	}
}

// TestResumeMatchesStraightRun runs 3 steps, saves the state, builds a new optimizer,
// loads it and runs 2 more: the parameters must equal (bit for bit) those of 5 steps
// straight, and torch's.
func TestResumeMatchesStraightRun(t *testing.T) {
	g := loadGolden(t)
	for i := range g.Cases {
		c := &g.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			straight := g.newParams()
			defer dropAll(straight)
			opt := c.build(t, straight)
			c.runSteps(t, g, opt, straight, 0, 5)
			opt.Close()

			resumed := g.newParams()
			defer dropAll(resumed)
			first := c.build(t, resumed)
			c.runSteps(t, g, first, resumed, 0, 3)
			state := first.State()
			first.Close()
			second := c.build(t, resumed)
			defer second.Close()
			if err := second.LoadState(state); err != nil {
				t.Fatal(err)
			}
			for _, s := range state {
				s.MustDrop()
			}
			c.runSteps(t, g, second, resumed, 3, 5)

			for pi := range straight {
				a, b := straight[pi].Float64Values(), resumed[pi].Float64Values()
				for j := range a {
					if a[j] != b[j] {
						t.Fatalf("p%d[%d]: resumed %.9g, straight %.9g", pi, j, b[j], a[j])
					}
				}
			}
			compare(t, "resumed", resumed, c.After[4])
		})
	}
}
