package reports

import (
	"math"
	"strings"
	"testing"
)

func TestNiceAxis(t *testing.T) {
	cases := []struct {
		lo, hi  float64
		n       int
		integer bool
		want    string // tick labels
	}{
		{0, 1, 10, false, "0.0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1.0"},
		{0, 7.3, 8, false, "0 1 2 3 4 5 6 7 8"},
		{2.2, 6.4, 8, false, "2 3 4 5 6 7"},
		{2.2, 6.4, 12, false, "2.0 2.5 3.0 3.5 4.0 4.5 5.0 5.5 6.0 6.5"},
		{0, 0.0102, 8, false, "0.000 0.002 0.004 0.006 0.008 0.010 0.012"},
		{-0.3, 0.3, 6, false, "-0.3 -0.2 -0.1 0.0 0.1 0.2 0.3"},
		{0, 59, 10, true, "0 10 20 30 40 50 60"},
		{4, 6, 10, true, "4 5 6"},
		{0, 3e-6, 6, false, "0 5e-07 1e-06 1.5e-06 2e-06 2.5e-06 3e-06"},
		{0, 4e7, 4, false, "0 1e+07 2e+07 3e+07 4e+07"},
	}
	for _, c := range cases {
		a, err := niceAxis(c.lo, c.hi, c.n, c.integer)
		if err != nil {
			t.Errorf("niceAxis(%g, %g): %v", c.lo, c.hi, err)
			continue
		}
		if got := strings.Join(a.labels, " "); got != c.want {
			t.Errorf("niceAxis(%g, %g, %d) labels %q, want %q", c.lo, c.hi, c.n, got, c.want)
		}
		if a.lo > c.lo || a.hi < c.hi {
			t.Errorf("niceAxis(%g, %g) range [%g, %g] does not cover the data", c.lo, c.hi, a.lo, a.hi)
		}
	}
	for _, bad := range [][2]float64{{1, 1}, {2, 1}, {math.NaN(), 1}, {-math.MaxFloat64, math.MaxFloat64}} {
		if _, err := niceAxis(bad[0], bad[1], 5, false); err == nil {
			t.Errorf("niceAxis(%g, %g) succeeded", bad[0], bad[1])
		}
	}
}

func TestAxisPixels(t *testing.T) {
	a := unitAxis()
	a.p0, a.p1 = 100, 700
	for v, want := range map[float64]int{0: 100, 0.5: 400, 1: 700, 0.25: 250} {
		if got := a.px(v); got != want {
			t.Errorf("px(%g) = %d, want %d", v, got, want)
		}
	}
	a.p0, a.p1 = 500, 100 // vertical: up is smaller y
	if got := a.px(0.75); got != 200 {
		t.Errorf("vertical px(0.75) = %d, want 200", got)
	}
}

func TestSpread(t *testing.T) {
	cases := []struct{ lo, hi, wlo, whi float64 }{
		{0, 10, 0, 10.3},       // 3% margin, not below zero for non-negative data
		{-10, 10, -10.6, 10.6}, // 3% of the span on both sides
		{0, 0, 0, 1},           // zeros: [0, 1]
		{5, 5, 4.75, 5.25},     // constant: ±5% of the value
		{-2, -2, -2.1, -1.9},
	}
	for _, c := range cases {
		lo, hi := spread(c.lo, c.hi)
		if math.Abs(lo-c.wlo) > 1e-12 || math.Abs(hi-c.whi) > 1e-12 {
			t.Errorf("spread(%g, %g) = [%g, %g], want [%g, %g]", c.lo, c.hi, lo, hi, c.wlo, c.whi)
		}
	}
}

func TestShortenAndWrap(t *testing.T) {
	if got := shorten("Vehicle registration plate", 10); got != "Vehicle r…" {
		t.Errorf("shorten = %q", got)
	}
	if got := shorten("cat", 10); got != "cat" {
		t.Errorf("shorten = %q", got)
	}
	m, err := newMetrics(PNG)
	if err != nil {
		t.Fatal(err)
	}
	lines := wrap(m, "one two three four five six seven", tickSize, m.width("one two three", tickSize))
	if strings.Join(lines, "|") != "one two three|four five six|seven" {
		t.Errorf("wrap = %q", lines)
	}
	if w := m.width("average precision", 14); w < 100 || w > 140 {
		t.Errorf("width of a 17-letter label at 14 px is %d, want 100–140", w)
	}
}
