package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"
)

// XYChartSeries is one set of points of an XYChart: a line through them in order, or
// (Scatter) dots alone.
type XYChartSeries struct {
	Name    string
	X, Y    []float64
	Scatter bool
}

// XYChart is a chart of values against a numeric, logarithmic or categorical x: a metric
// against a swept setting, or a metric over trials.
type XYChart struct {
	Title, Subtitle string
	XName, YName    string
	// LogX draws x on a logarithmic axis (every x must then be greater than 0).
	LogX bool
	// Categories, when set, makes x categorical: each X value is an index into it.
	Categories []string
	// IntegerX ticks a numeric x at whole numbers only (trial numbers, epochs).
	IntegerX bool
	Series   []XYChartSeries
}

// XY writes an XY chart: one line or set of dots per series, with a legend when there are
// several series. No series, a series without points, X and Y of different lengths, a NaN
// or infinite value, a non-positive x on a log axis, a category index out of range, or more
// than 40 series are errors. A single point or a constant range is charted on a widened
// range.
func (ch Charts) XY(w io.Writer, c XYChart) error {
	title := shorten(c.Title, 120)
	if len(c.Series) == 0 {
		return fmt.Errorf("reports: XY %q: no series", title)
	}
	if len(c.Series) > maxLines {
		return fmt.Errorf("reports: XY %q: %d series; at most %d can be told apart in one chart", title, len(c.Series), maxLines)
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, s := range c.Series {
		if len(s.X) == 0 || len(s.X) != len(s.Y) {
			return fmt.Errorf("reports: XY %q: series %d (%q) has %d x and %d y values", title, i, s.Name, len(s.X), len(s.Y))
		}
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				return fmt.Errorf("reports: XY %q: series %q point %d (%g, %g) is not finite", title, s.Name, j, x, y)
			}
			switch {
			case c.Categories != nil:
				if x != math.Trunc(x) || x < 0 || int(x) >= len(c.Categories) {
					return fmt.Errorf("reports: XY %q: series %q point %d: x %g is not a category index (0 to %d)", title, s.Name, j, x, len(c.Categories)-1)
				}
			case c.LogX:
				if !(x > 0) {
					return fmt.Errorf("reports: XY %q: series %q point %d: x %g on a log axis must be greater than 0", title, s.Name, j, x)
				}
				x = math.Log10(x)
			}
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	var x axis
	var err error
	switch {
	case c.Categories != nil:
		x = categoryAxis(c.Categories)
	case c.LogX:
		x, err = logAxis(xlo, xhi)
	default:
		lo, hi := xlo, xhi
		if c.IntegerX && lo == hi {
			lo, hi = lo-1, hi+1
		} else if !c.IntegerX {
			lo, hi = spread(lo, hi)
		}
		x, err = niceAxis(lo, hi, 10, c.IntegerX)
	}
	if err != nil {
		return fmt.Errorf("reports: XY %q: x: %w", title, err)
	}
	ylo, yhi = spread(ylo, yhi)
	y, err := niceAxis(ylo, yhi, 8, false)
	if err != nil {
		return fmt.Errorf("reports: XY %q: y: %w", title, err)
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	yName := shorten(c.YName, 60)
	if yName == "" {
		yName = "value"
	}
	if title == "" {
		title = yName
	}
	lc := &lineChart{title: title, subtitle: shorten(c.Subtitle, 160), xName: shorten(c.XName, 60), yName: yName,
		x: x, y: y, plotW: 720, plotH: 400}
	for i, s := range c.Series {
		col, dash := lineStyle(i)
		pts := make([]fpt, len(s.X))
		for j := range s.X {
			px := s.X[j]
			if c.LogX {
				px = math.Log10(px)
			}
			pts[j] = fpt{px, s.Y[j]}
		}
		lc.lines = append(lc.lines, line{pts: pts, color: col, dash: dash, width: 2, dots: s.Scatter || len(pts) <= dotsUpTo, noLine: s.Scatter})
		if len(c.Series) > 1 {
			name := shorten(s.Name, nameRunes)
			if name == "" {
				name = fmt.Sprintf("series %d", i+1)
			}
			lc.legend = append(lc.legend, legendEntry{label: name, color: col, dash: dash})
		}
	}
	return lc.render(ch.Format, m, w)
}

// categoryAxis puts n categories at 0…n-1, half a slot of margin on each side.
func categoryAxis(cats []string) axis {
	a := axis{lo: -0.5, hi: float64(len(cats)) - 0.5}
	for i, c := range cats {
		a.ticks = append(a.ticks, float64(i))
		a.labels = append(a.labels, shorten(c, 16))
	}
	return a
}

// logAxis is an axis over [lo, hi] given in log10 units, ticked at 1, 2 and 5 times the
// powers of ten inside it (every integer multiple when it spans less than a decade, and only
// the powers of ten when it spans more than four), labelled with the values themselves.
func logAxis(lo, hi float64) (axis, error) {
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	margin := (hi - lo) * 0.05
	lo, hi = lo-margin, hi+margin
	if hi-lo > 300 {
		return axis{}, fmt.Errorf("reports: cannot chart the log range [1e%g, 1e%g]", lo, hi)
	}
	mults := []float64{1, 2, 5}
	switch span := hi - lo; {
	case span < 1:
		mults = []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	case span > 4:
		mults = []float64{1}
	}
	a := axis{lo: lo, hi: hi}
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		for _, mu := range mults {
			v := k + math.Log10(mu)
			if v >= lo-1e-9 && v <= hi+1e-9 {
				a.ticks = append(a.ticks, v)
				a.labels = append(a.labels, strconv.FormatFloat(mu*math.Pow(10, k), 'g', 3, 64))
			}
		}
	}
	if len(a.ticks) < 2 { // a range between two ticks of the 1–9 ladder
		a.ticks = []float64{lo, hi}
		a.labels = []string{strconv.FormatFloat(math.Pow(10, lo), 'g', 3, 64), strconv.FormatFloat(math.Pow(10, hi), 'g', 3, 64)}
	}
	return a, nil
}
