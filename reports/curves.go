package reports

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// dotsUpTo is the longest series whose points are marked with dots.
const dotsUpTo = 30

// Curves writes a line chart of metrics over epochs: one line per series, epochs on x, values on
// y (named yLabel; "value" if empty), with a legend. Points are drawn in epoch order. With several
// runs and several metric names each run gets a colour and each name a line pattern; otherwise
// each series gets its own colour. Legend labels are "run · name", or just the part that differs
// between series. Short series (up to 30 points) are marked with dots; a single point is a dot.
// Constant values and single epochs are charted on a widened range. No series, a series without
// points, a NaN or infinite value, or more than 40 series are errors.
func (ch Charts) Curves(w io.Writer, title, yLabel string, series []Series) error {
	if len(series) == 0 {
		return fmt.Errorf("reports: Curves %q: no series", title)
	}
	if len(series) > maxLines {
		return fmt.Errorf("reports: Curves %q: %d series; at most %d lines can be told apart in one chart", title, len(series), maxLines)
	}
	xlo, xhi := math.MaxInt, math.MinInt
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, s := range series {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w (Curves %q, series %d)", err, title, i)
		}
		for _, p := range s.Points {
			xlo, xhi = min(xlo, p.Epoch), max(xhi, p.Epoch)
			ylo, yhi = math.Min(ylo, p.Value), math.Max(yhi, p.Value)
		}
	}
	yLabel = shorten(yLabel, 60)
	if yLabel == "" {
		yLabel = "value"
	}
	title = shorten(title, 120)
	if title == "" {
		title = yLabel
	}
	fxlo, fxhi := float64(xlo), float64(xhi)
	if xlo == xhi {
		fxlo, fxhi = fxlo-1, fxhi+1
	}
	x, err := niceAxis(fxlo, fxhi, 10, true)
	if err != nil {
		return fmt.Errorf("reports: Curves %q: epochs: %w", title, err)
	}
	ylo, yhi = spread(ylo, yhi)
	y, err := niceAxis(ylo, yhi, 8, false)
	if err != nil {
		return fmt.Errorf("reports: Curves %q: values: %w", title, err)
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	lc := &lineChart{title: title, xName: "epoch", yName: yLabel, x: x, y: y, plotW: 720, plotH: 400}
	labels := seriesLabels(series)
	styles := seriesStyles(series)
	for i, s := range series {
		pts := make([]fpt, len(s.Points))
		for j, p := range s.Points {
			pts[j] = fpt{float64(p.Epoch), p.Value}
		}
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].x < pts[b].x })
		lc.lines = append(lc.lines, line{pts: pts, color: styles[i].color, dash: styles[i].dash, width: 2, dots: len(pts) <= dotsUpTo})
		lc.legend = append(lc.legend, legendEntry{label: labels[i], color: styles[i].color, dash: styles[i].dash})
	}
	return lc.render(ch.Format, m, w)
}

type style struct {
	color drawing.Color
	dash  []float64
}

// seriesStyles gives each run a colour and each metric name a dash pattern when there are several
// of both (and few enough to tell apart), and each series its own style otherwise.
func seriesStyles(series []Series) []style {
	runs, names := firstSeen(series, func(s Series) string { return s.Run }), firstSeen(series, func(s Series) string { return s.Name })
	out := make([]style, len(series))
	byRunAndName := len(runs) > 1 && len(names) > 1 && len(runs) <= 10 && len(names) <= len(dashes)
	for i, s := range series {
		if byRunAndName {
			out[i] = style{palette[runs[s.Run]], dashes[names[s.Name]]}
		} else {
			col, dash := lineStyle(i)
			out[i] = style{col, dash}
		}
	}
	return out
}

// seriesLabels names each series by the parts that differ between series: "run · name", "run" or
// "name"; series that would share a label are numbered.
func seriesLabels(series []Series) []string {
	runs, names := firstSeen(series, func(s Series) string { return s.Run }), firstSeen(series, func(s Series) string { return s.Name })
	out := make([]string, len(series))
	count := map[string]int{}
	for i, s := range series {
		run, name := shorten(s.Run, nameRunes), shorten(s.Name, nameRunes)
		var l string
		switch {
		case len(runs) > 1 && len(names) > 1 && run != "" && name != "":
			l = run + " · " + name
		case len(runs) > 1 && run != "":
			l = run
		case name != "":
			l = name
		case run != "":
			l = run
		default:
			l = fmt.Sprintf("series %d", i+1)
		}
		out[i] = l
		count[l]++
	}
	seen := map[string]int{}
	for i, l := range out {
		if count[l] > 1 {
			seen[l]++
			out[i] = fmt.Sprintf("%s #%d", l, seen[l])
		}
	}
	return out
}

// firstSeen numbers the distinct keys of series in order of first appearance.
func firstSeen(series []Series, key func(Series) string) map[string]int {
	idx := map[string]int{}
	for _, s := range series {
		if _, ok := idx[key(s)]; !ok {
			idx[key(s)] = len(idx)
		}
	}
	return idx
}
