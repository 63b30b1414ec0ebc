package target

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
)

// loadNpz reads testdata/name (written by testdata/gen_golden.py from the reference) into
// named tensors that the test frees at cleanup.
func loadNpz(t testing.TB, name string) map[string]*ts.Tensor {
	t.Helper()
	named, err := ts.ReadNpz(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*ts.Tensor, len(named))
	for _, n := range named {
		out[n.Name] = n.Tensor
		t.Cleanup(n.Tensor.MustDrop)
	}
	return out
}

// int64Tensor converts x (the golden files store labels as int16) to a new int64 tensor
// that the test frees at cleanup.
func int64Tensor(t testing.TB, x *ts.Tensor) *ts.Tensor {
	t.Helper()
	y := x.MustTotype(gotch.Int64, false)
	t.Cleanup(y.MustDrop)
	return y
}

// goldenCases are the ground-truth sets of match_golden.npz (see gen_golden.py).
var goldenCases = []string{"one", "five", "twenty", "dups", "ties"}

func TestMatchGolden(t *testing.T) {
	g := loadNpz(t, "match_golden.npz")
	m, err := NewMatcher(g["priors"], 0.5, boxes.DefaultVariances)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.NumPriors() != 3000 {
		t.Fatalf("NumPriors = %d, want 3000", m.NumPriors())
	}
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			gtBoxes := g[name+"_gt_boxes"]
			gtLabels := int64Tensor(t, g[name+"_gt_labels"])
			loc, labels, err := m.Match(gtBoxes, gtLabels)
			if err != nil {
				t.Fatal(err)
			}
			defer loc.MustDrop()
			defer labels.MustDrop()
			if got := labels.MustSize(); len(got) != 1 || got[0] != 3000 || labels.DType() != gotch.Int64 {
				t.Fatalf("labels: shape %v dtype %v, want [3000] int64", got, labels.DType())
			}
			if got := loc.MustSize(); len(got) != 2 || got[0] != 3000 || got[1] != 4 || loc.DType() != gotch.Float {
				t.Fatalf("loc: shape %v dtype %v, want [3000 4] float32", got, loc.DType())
			}
			gotLabels, wantLabels := labels.Int64Values(), g[name+"_labels"].Int64Values()
			positives, wrong := 0, 0
			for i := range wantLabels {
				if wantLabels[i] > 0 {
					positives++
				}
				if gotLabels[i] != wantLabels[i] {
					if wrong < 5 {
						t.Errorf("prior %d: label %d, reference %d", i, gotLabels[i], wantLabels[i])
					}
					wrong++
				}
			}
			if wrong > 0 {
				t.Errorf("%d of 3000 labels differ from the reference", wrong)
			}
			// The labels are exact above: matching only compares IoUs, whatever the CPU.
			// The encoded locations go through libtorch's log and divisions, whose
			// vectorised and scalar kernels (ATEN_CPU_CAPABILITY) differ by an ulp, so
			// they are bounded by 8 float32 ulps of the largest offset (2^-20 relative);
			// a wrong prior or variance moves them by 1e-2 of it or more.
			worst := maxAbsDiff(t, loc.Float64Values(), g[name+"_loc"].Float64Values())
			scale := maxAbsDiff(t, g[name+"_loc"].Float64Values(), make([]float64, loc.Numel()))
			t.Logf("%d positives, %d labels differ, locations max |diff| %.3g (max |loc| %.3g)", positives, wrong, worst, scale)
			if !(worst <= 0x1p-20*scale) {
				t.Errorf("locations differ from the reference by %g, more than 2^-20 of max |loc| %g", worst, scale)
			}
		})
	}
}

// maxAbsDiff returns the largest |got-want|, counting equal infinities as equal and any
// NaN as a mismatch (+Inf).
func maxAbsDiff(t testing.TB, got, want []float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		a, b := got[i], want[i]
		if a == b {
			continue
		}
		d := math.Abs(a - b)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		worst = math.Max(worst, d)
	}
	return worst
}
