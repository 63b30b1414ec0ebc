package reports

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"
)

// unit returns a random value in [0, 1] that is often an edge: 0, 1 or the smallest subnormal.
func unit(rng *rand.Rand) float64 {
	switch rng.Intn(8) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return math.SmallestNonzeroFloat64
	}
	return rng.Float64()
}

// bad returns a value that no chart accepts as an AP or curve value.
func bad(rng *rand.Rand) float64 {
	return []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e-9, 1.001, 1e300}[rng.Intn(6)]
}

// randomEval returns a random eval; about a third of them carry one defect.
func randomEval(rng *rand.Rand, run string) Eval {
	e := Eval{Run: run, Epoch: rng.Intn(300) - 5, MAP: unit(rng)}
	n := 1 + rng.Intn(30)
	for i := 0; i < n; i++ {
		c := ClassAP{Class: fmt.Sprintf("class %d", i+rng.Intn(2)*100), AP: unit(rng)}
		k := rng.Intn(60)
		for j := 0; j < k; j++ {
			c.Precision = append(c.Precision, unit(rng))
			c.Recall = append(c.Recall, unit(rng))
		}
		sort.Float64s(c.Recall)
		e.Classes = append(e.Classes, c)
	}
	if rng.Intn(3) > 0 {
		return e
	}
	c := &e.Classes[rng.Intn(n)]
	switch rng.Intn(7) {
	case 0:
		e.Classes = nil
	case 1:
		e.MAP = bad(rng)
	case 2:
		c.AP = bad(rng)
	case 3:
		c.Precision = append(c.Precision, 0.5)
	case 4:
		c.Precision = append(c.Precision, bad(rng))
		c.Recall = append(c.Recall, 1)
	case 5:
		c.Precision = append(c.Precision, 0.5, 0.5)
		c.Recall = append(c.Recall, 1, 0.5)
	case 6:
		c.Class = ""
	}
	return e
}

// randomSeries returns random series over magnitudes from 1e-20 to 1e20; about a quarter of the
// calls carry one defect.
func randomSeries(rng *rand.Rand) []Series {
	out := make([]Series, 1+rng.Intn(5))
	scale := math.Pow(10, float64(rng.Intn(40)-20))
	for i := range out {
		out[i] = Series{Run: fmt.Sprintf("r%d", rng.Intn(3)), Name: fmt.Sprintf("m%d", rng.Intn(3))}
		k := 1 + rng.Intn(50)
		for j := 0; j < k; j++ {
			v := rng.NormFloat64() * scale
			if rng.Intn(10) == 0 {
				v = 0
			}
			out[i].Points = append(out[i].Points, Point{rng.Intn(100) - 10, v})
		}
	}
	if rng.Intn(4) > 0 {
		return out
	}
	s := &out[rng.Intn(len(out))]
	switch rng.Intn(3) {
	case 0:
		return nil
	case 1:
		s.Points = nil
	case 2:
		s.Points[rng.Intn(len(s.Points))].Value = []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[rng.Intn(3)]
	}
	return out
}

// TestRandomInputs feeds random and edge-case inputs to every chart: each call must either return
// an error and write nothing, or write a valid image; none may panic.
func TestRandomInputs(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var ok, failed int
	for iter := 0; iter < 120; iter++ {
		ch := Charts{Format: Format(iter % 2)}
		var draw func(io.Writer) error
		switch iter % 4 {
		case 0:
			e := randomEval(rng, "a")
			draw = func(w io.Writer) error { return ch.PerClassAP(w, e) }
		case 1:
			evals := []Eval{randomEval(rng, "a"), randomEval(rng, "b"), randomEval(rng, "")}
			k := rng.Intn(4)
			draw = func(w io.Writer) error { return ch.CompareAP(w, evals[:k]) }
		case 2:
			e := randomEval(rng, "a")
			var pick []string
			for i := rng.Intn(3); i > 0 && len(e.Classes) > 0; i-- {
				pick = append(pick, e.Classes[rng.Intn(len(e.Classes))].Class)
			}
			draw = func(w io.Writer) error { return ch.PRCurves(w, e, pick...) }
		case 3:
			s := randomSeries(rng)
			draw = func(w io.Writer) error { return ch.Curves(w, "random", "v", s) }
		}
		var b bytes.Buffer
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
					t.Errorf("iteration %d panicked: %v", iter, r)
				}
			}()
			return draw(&b)
		}()
		switch {
		case err != nil:
			failed++
			if b.Len() != 0 {
				t.Errorf("iteration %d: error %v but wrote %d bytes", iter, err, b.Len())
			}
		case ch.Format == PNG:
			ok++
			decodePNG(t, b.Bytes())
		default:
			ok++
			checkSVG(t, b.Bytes())
		}
	}
	t.Logf("%d charts drawn, %d inputs rejected", ok, failed)
	if ok < 20 || failed < 20 {
		t.Errorf("random inputs not mixed enough: %d drawn, %d rejected", ok, failed)
	}
}

// FuzzCurves checks that no pair of values makes Curves panic or write an invalid PNG.
func FuzzCurves(f *testing.F) {
	f.Add(0.0, 0.0, 0, 0)
	f.Add(1e-310, 2e-310, 1, 1)
	f.Add(-1e308, 1e308, 0, 5)
	f.Add(1e16, 1e16+2, 3, 4)
	f.Add(0.001, 0.00100001, -7, 1<<40)
	f.Fuzz(func(t *testing.T, a, b float64, e1, e2 int) {
		var buf bytes.Buffer
		err := Curves(&buf, "fuzz", "v", []Series{{Points: []Point{{e1, a}, {e2, b}}}})
		if err == nil {
			decodePNG(t, buf.Bytes())
		} else if buf.Len() != 0 {
			t.Errorf("error %v but wrote %d bytes", err, buf.Len())
		}
	})
}

// TestCurvesHugeRange is FuzzCurves' crasher: one series holding -6e307 and 1e308, whose
// widened axis spans more than the largest float64, hung the rasteriser on NaN pixels.
func TestCurvesHugeRange(t *testing.T) {
	for _, vs := range [][2]float64{{-6e307, 1e308}, {-1.7e308, 1.7e308}, {1e308, -6e307}} {
		var buf bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- Curves(&buf, "huge", "v", []Series{{Points: []Point{{0, vs[0]}, {1, vs[1]}}}}) }()
		select {
		case err := <-done:
			if err == nil {
				decodePNG(t, buf.Bytes())
			} else if buf.Len() != 0 {
				t.Errorf("%v: error %v but wrote %d bytes", vs, err, buf.Len())
			}
		case <-time.After(2 * time.Minute): // a hang guard, not a timing
			t.Fatalf("%v: Curves hangs", vs)
		}
	}
}
