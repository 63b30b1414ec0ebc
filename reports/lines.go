package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
)

// XY is one point of a line over a real-valued x, e.g. a training step and its learning rate.
type XY struct{ X, Y float64 }

// XYSeries is one line over a real-valued x: a metric of a run against steps, fractional
// epochs or a swept value.
type XYSeries struct {
	Run, Name string
	Points    []XY
}

// Validate reports the first problem that keeps s from being charted: no points, or an x or y
// that is NaN or infinite.
func (s XYSeries) Validate() error {
	if len(s.Points) == 0 {
		return fmt.Errorf("reports: series %q of run %q has no points", s.Name, s.Run)
	}
	for i, p := range s.Points {
		if !isFinite(p.X) || !isFinite(p.Y) {
			return fmt.Errorf("reports: series %q of run %q: point %d is (%v, %v)", s.Name, s.Run, i, p.X, p.Y)
		}
	}
	return nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Lines writes a line chart of series over a real-valued x (named xLabel; "x" if empty) with
// values on y (named yLabel; "value" if empty): the learning rate against the training step,
// a loss against fractional epochs. Points are drawn in x order, styles and legend labels are
// chosen as in Curves, and lines of up to 30 points are marked with dots. A single x or a
// constant y is charted on a widened range. No series, a series without points, a NaN or
// infinite coordinate, or more than 40 series are errors.
func (ch Charts) Lines(w io.Writer, title, xLabel, yLabel string, series []XYSeries) error {
	if len(series) == 0 {
		return fmt.Errorf("reports: Lines %q: no series", title)
	}
	if len(series) > maxLines {
		return fmt.Errorf("reports: Lines %q: %d series; at most %d lines can be told apart in one chart", title, len(series), maxLines)
	}
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w (Lines %q, series %d)", err, title, i)
		}
		for _, p := range s.Points {
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
		}
	}
	xLabel = shorten(xLabel, 60)
	if xLabel == "" {
		xLabel = "x"
	}
	yLabel = shorten(yLabel, 60)
	if yLabel == "" {
		yLabel = "value"
	}
	title = shorten(title, 120)
	if title == "" {
		title = yLabel
	}
	xlo, xhi = widen(xlo, xhi)
	x, err := niceAxis(xlo, xhi, 10, false)
	if err != nil {
		return fmt.Errorf("reports: Lines %q: x values: %w", title, err)
	}
	ylo, yhi = spread(ylo, yhi)
	y, err := niceAxis(ylo, yhi, 8, false)
	if err != nil {
		return fmt.Errorf("reports: Lines %q: y values: %w", title, err)
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	lc := &lineChart{title: title, xName: xLabel, yName: yLabel, x: x, y: y, plotW: 720, plotH: 400}
	asSeries := make([]Series, len(series)) // names only, for the shared labels and styles
	for i, s := range series {
		asSeries[i] = Series{Run: s.Run, Name: s.Name}
	}
	labels := seriesLabels(asSeries)
	styles := seriesStyles(asSeries)
	for i, s := range series {
		pts := make([]fpt, len(s.Points))
		for j, p := range s.Points {
			pts[j] = fpt{p.X, p.Y}
		}
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].x < pts[b].x })
		lc.lines = append(lc.lines, line{pts: pts, color: styles[i].color, dash: styles[i].dash, width: 2, dots: len(pts) <= dotsUpTo})
		lc.legend = append(lc.legend, legendEntry{label: labels[i], color: styles[i].color, dash: styles[i].dash})
	}
	return lc.render(ch.Format, m, w)
}

// widen returns [lo, hi] unchanged when the ends differ by more than rounding, and otherwise
// a range around them: ±1 around zero, ±5% of the magnitude elsewhere.
func widen(lo, hi float64) (float64, float64) {
	scale := math.Max(math.Abs(lo), math.Abs(hi))
	if hi-lo > scale*1e-9 {
		return lo, hi
	}
	margin := scale * 0.05
	if margin < 1e-300 {
		margin = 1
	}
	return lo - margin, hi + margin
}
