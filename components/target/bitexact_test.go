package target

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
)

// float32s returns the values of a float32 tensor.
func float32s(t testing.TB, x *ts.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Numel())
	if len(out) > 0 {
		if err := x.CopyData(out, uint(len(out))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameAsOracle checks that Match and oracleMatch agree bit for bit (any NaN equals any
// NaN: payloads are not part of the result).
func sameAsOracle(t *testing.T, m *Matcher, bs [][4]float32, labels []int64) {
	t.Helper()
	gb, gl := groundTruth(t, bs, labels)
	loc, lab, err := m.Match(gb, gl)
	if err != nil {
		t.Fatal(err)
	}
	defer loc.MustDrop()
	defer lab.MustDrop()
	wantLoc, wantLab, err := oracleMatch(m, gb, gl)
	if err != nil {
		t.Fatal(err)
	}
	defer wantLoc.MustDrop()
	defer wantLab.MustDrop()
	if got, want := loc.MustSize(), wantLoc.MustSize(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("loc shape %v, oracle %v", got, want)
	}
	gotL, wantL := lab.Int64Values(), wantLab.Int64Values()
	for i := range wantL {
		if gotL[i] != wantL[i] {
			t.Fatalf("G=%d: prior %d: label %d, oracle %d", len(bs), i, gotL[i], wantL[i])
		}
	}
	got, want := float32s(t, loc), float32s(t, wantLoc)
	for i := range want {
		a, b := got[i], want[i]
		if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
			t.Fatalf("G=%d: loc[%d][%d] = %g (%#08x), oracle %g (%#08x)", len(bs), i/4, i%4,
				a, math.Float32bits(a), b, math.Float32bits(b))
		}
	}
}

// priorBoxes returns the corner form of some of m's priors, as exact ties for the IoU.
func priorBoxes(t *testing.T, m *Matcher, idx ...int) [][4]float32 {
	t.Helper()
	c := float32s(t, m.corner)
	out := make([][4]float32, len(idx))
	for i, p := range idx {
		copy(out[i][:], c[4*p:4*p+4])
	}
	return out
}

func seqLabels(n int) []int64 {
	l := make([]int64, n)
	for i := range l {
		l[i] = int64(1 + i%20)
	}
	return l
}

// TestMatchBitIdentical compares Match with oracleMatch, the reference's operations
// transcribed one for one, on random and adversarial ground truths: every label and
// every location bit must agree.
func TestMatchBitIdentical(t *testing.T) {
	m := goldenMatcher(t)
	rng := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 2, 3, 5, 10, 30, 100} {
		for rep := 0; rep < 4; rep++ {
			sameAsOracle(t, m, randomBoxes(rng, n), seqLabels(n))
		}
	}
	box := [4]float32{0.3, 0.3, 0.55, 0.6}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	adversarial := map[string][][4]float32{
		"duplicates":     {box, box, box, {0.1, 0.1, 0.2, 0.2}, box},
		"priors":         priorBoxes(t, m, 0, 1, 1, 17, 2999, 1500, 1500, 1501),
		"whole image":    {{0, 0, 1, 1}, {0, 0, 1, 1}, {0, 0, 0.5, 1}},
		"borders":        {{0, 0, 0.01, 0.01}, {0.99, 0.99, 1, 1}, {0, 0.5, 1e-7, 0.6}},
		"tiny":           {{0.5, 0.5, 0.5000001, 0.5000001}, {0.2, 0.2, 0.2000001, 0.3}},
		"zero width":     {box, {0.2, 0.1, 0.2, 0.5}},
		"inverted":       {{0.5, 0.5, 0.2, 0.2}, box},
		"nan":            {{nan, 0.1, 0.5, 0.5}, box},
		"inf":            {{0.1, 0.1, inf, 0.5}, box},
		"outside":        {{-0.5, -0.5, 1.5, 1.5}, {1.2, 1.2, 1.4, 1.4}},
		"negative zeros": {{float32(math.Copysign(0, -1)), 0, 0.3, 0.3}, box},
	}
	for name, bs := range adversarial {
		t.Run(name, func(t *testing.T) { sameAsOracle(t, m, bs, seqLabels(len(bs))) })
	}
}

// TestMatchBitIdenticalFewPriors repeats the comparison over small prior sets, whose
// counts are not multiples of the vector width (so the elementwise kernels run their
// scalar tails), and where many ground truths share best priors.
func TestMatchBitIdenticalFewPriors(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, p := range []int{1, 3, 7, 13, 101, 1003} {
		data := make([]float32, 4*p)
		for i := 0; i < p; i++ {
			w, h := 0.05+0.5*rng.Float32(), 0.05+0.5*rng.Float32()
			data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = rng.Float32(), rng.Float32(), w, h
		}
		priors, err := ts.NewTensorFromData(data, []int64{int64(p), 4})
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewMatcher(priors, 0.45, boxes.Variances{Center: 0.1, Size: 0.2})
		priors.MustDrop()
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprint("P=", p), func(t *testing.T) {
			for _, n := range []int{1, 4, 9, 25} {
				sameAsOracle(t, m, randomBoxes(rng, n), seqLabels(n))
			}
		})
		m.Close()
	}
}

// TestMatchNonContiguous feeds views (boxes with column-major strides, labels with
// stride 2) instead of fresh tensors: the results must not change.
func TestMatchNonContiguous(t *testing.T) {
	m := goldenMatcher(t)
	bs := randomBoxes(rand.New(rand.NewPCG(41, 42)), 6)
	gb, gl := groundTruth(t, bs, seqLabels(6))
	tb := gb.MustT(false).MustContiguous(true).MustT(true) // [6,4] with strides [1,6]
	defer tb.MustDrop()
	pair := ts.MustStack([]ts.Tensor{*gl, *gl}, 1) // [6,2]
	defer pair.MustDrop()
	col := pair.MustSelect(1, 1, false) // [6] with stride 2
	defer col.MustDrop()
	wantLoc, want := match(t, m, gb, gl)
	loc, got := match(t, m, tb, col)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("prior %d: label %d from views, %d from contiguous tensors", i, got[i], want[i])
		}
	}
	a, b := float32s(t, loc), float32s(t, wantLoc)
	for i := range b {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("loc %d: %g from views, %g from contiguous tensors", i, a[i], b[i])
		}
	}
}
