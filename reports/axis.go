package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// axis is a linear axis: a value range, its ticks, and the pixel span it maps onto.
type axis struct {
	lo, hi float64   // value range
	p0, p1 int       // pixels of lo and hi (p1 < p0 for a vertical axis)
	ticks  []float64 // tick values within [lo, hi]
	labels []string  // one per tick
}

// px maps v to pixels. The differences are taken of halves, so that a range wider than the
// largest float64 (-8e307 to 1.2e308) does not overflow to Inf and NaN; the result is
// clamped to a few screens around the plot, as a far-off pixel makes the rasteriser crawl.
func (a axis) px(v float64) int {
	f := float64(a.p0) + (v/2-a.lo/2)/(a.hi/2-a.lo/2)*float64(a.p1-a.p0)
	const far = 1 << 16
	switch {
	case math.IsNaN(f):
		return a.p0
	case f < -far:
		return -far
	case f > far:
		return far
	}
	return int(math.Round(f))
}

// unitAxis is the [0, 1] axis of AP, precision and recall, ticked every 0.1.
func unitAxis() axis {
	a := axis{lo: 0, hi: 1}
	for k := 0; k <= 10; k++ {
		v := float64(k) / 10
		a.ticks = append(a.ticks, v)
		a.labels = append(a.labels, strconv.FormatFloat(v, 'f', 1, 64))
	}
	return a
}

// niceAxis returns an axis covering [lo, hi] (lo < hi, both finite), widened to whole ticks, with
// about n intervals of 1, 2 or 5 times a power of ten (at least 1 when integer is set).
func niceAxis(lo, hi float64, n int, integer bool) (axis, error) {
	if !(lo < hi) || math.IsInf(hi-lo, 0) {
		return axis{}, fmt.Errorf("reports: cannot chart the value range [%g, %g]", lo, hi)
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	if integer {
		step = math.Max(1, math.Round(step))
	}
	k0, k1 := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	if !(k1-k0 >= 1 && k1-k0 <= 100) || math.IsInf(k0*step, 0) || math.IsInf(k1*step, 0) {
		return axis{}, fmt.Errorf("reports: cannot chart the value range [%g, %g]", lo, hi)
	}
	a := axis{lo: k0 * step, hi: k1 * step}
	for k := k0; k <= k1; k++ {
		a.ticks = append(a.ticks, k*step+0) // +0 turns -0 into 0
	}
	a.labels = tickLabels(a.ticks, step)
	return a, nil
}

// tickLabels formats ticks with as few digits as keep them distinct and exact for the step.
func tickLabels(ticks []float64, step float64) []string {
	big := math.Max(math.Abs(ticks[0]), math.Abs(ticks[len(ticks)-1]))
	decimals := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	if big < 1e6 && decimals <= 6 {
		return formatAll(ticks, 'f', decimals)
	}
	for prec := 1; prec < 17; prec++ {
		if l := formatAll(ticks, 'g', prec); distinct(l) {
			return l
		}
	}
	return formatAll(ticks, 'g', -1)
}

func formatAll(vs []float64, fmtc byte, prec int) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		s := strconv.FormatFloat(v, fmtc, prec, 64)
		if strings.Trim(s, "-0.") == "" {
			s = strings.TrimPrefix(s, "-") // "-0.00" reads as "0.00"
		}
		out[i] = s
	}
	return out
}

func distinct(ss []string) bool {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return false
		}
		seen[s] = true
	}
	return true
}

// spread widens the data range [lo, hi] by a margin of 3% of its span, so that lines do not run
// along the plot's edges, or of 5% of its magnitude (1 for zeros) when the range is degenerate:
// equal ends, or a span too small to tell apart from rounding. Non-negative data keeps a
// non-negative range.
func spread(lo, hi float64) (float64, float64) {
	scale := math.Max(math.Abs(lo), math.Abs(hi))
	margin := (hi - lo) * 0.03
	if hi-lo <= scale*1e-9 {
		margin = scale * 0.05
		if margin < 1e-300 {
			margin = 1
		}
	}
	nlo, nhi := lo-margin, hi+margin
	if lo >= 0 && nlo < 0 {
		nlo = 0
	}
	return nlo, nhi
}
