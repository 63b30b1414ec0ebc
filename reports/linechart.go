package reports

import (
	"io"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// fpt is a data point.
type fpt struct{ x, y float64 }

// line is one data line of a line chart.
type line struct {
	pts   []fpt
	color drawing.Color
	dash  []float64
	width float64
	dots  bool // mark every point
	// noLine draws the points as dots alone (a scatter plot)
	noLine bool
}

// lineChart is the layout shared by PRCurves and Curves: a title block, a plot with a left and a
// bottom axis, and a legend in columns to the right of the plot.
type lineChart struct {
	title, subtitle string
	xName, yName    string
	x, y            axis // value ranges, ticks and labels; pixels are set by render
	plotW, plotH    int
	lines           []line
	legendTitle     string
	legend          []legendEntry
	empty           string // shown in the plot when no line has a point
}

const (
	pad          = 16   // outer margin
	titleSize    = 20.0 // chart title
	subtitleSize = 14.0 // line under the title
	labelSize    = 14.0 // axis names, class names
	tickSize     = 13.0 // tick labels
	valueSize    = 12.0 // values written next to bars
)

// header returns the height of the title block (title and optional subtitle).
func header(subtitle string) int {
	h := pad + 24
	if subtitle != "" {
		h += 20
	}
	return h
}

// drawHeader draws the title and subtitle, left-aligned at pad.
func drawHeader(c *canvas, title, subtitle string) {
	c.text(title, pad, pad+10, titleSize, colText, alignLeft)
	if subtitle != "" {
		c.text(subtitle, pad, pad+34, subtitleSize, colMuted, alignLeft)
	}
}

func (lc *lineChart) render(f Format, m *metrics, w io.Writer) error {
	yTickW := m.maxWidth(tickSize, lc.y.labels...)
	plotL := pad + 18 + 10 + yTickW + 8 // rotated y name, gap, tick labels, tick
	plotT := header(lc.subtitle) + 14
	plotR, plotB := plotL+lc.plotW, plotT+lc.plotH
	// Half a tick label may stick out right of the plot; the legend starts after it.
	legendX := plotR + max(24, m.width(lc.x.labels[len(lc.x.labels)-1], tickSize)/2+12)
	legendY := plotT
	rows := lc.plotH / legendRow
	if lc.legendTitle != "" {
		rows--
	}
	cols, colW, legendW := legendColumns(m, lc.legend, rows)
	if lc.legendTitle != "" && cols > 0 {
		legendW = max(legendW, m.width(lc.legendTitle, legendSize))
	}
	width := max(legendX+legendW+pad,
		2*pad+m.width(lc.title, titleSize), 2*pad+m.width(lc.subtitle, subtitleSize))
	height := plotB + 56 + pad

	c, err := newCanvas(f, m, width, height)
	if err != nil {
		return err
	}
	lc.x.p0, lc.x.p1 = plotL, plotR
	lc.y.p0, lc.y.p1 = plotB, plotT

	drawHeader(c, lc.title, lc.subtitle)
	for _, v := range lc.x.ticks {
		c.line(lc.x.px(v), plotT, lc.x.px(v), plotB, colGrid, 1, nil)
	}
	for _, v := range lc.y.ticks {
		c.line(plotL, lc.y.px(v), plotR, lc.y.px(v), colGrid, 1, nil)
	}

	drawn := 0
	for _, ln := range lc.lines {
		pts := make([]pt, len(ln.pts))
		for i, p := range ln.pts {
			pts[i] = pt{lc.x.px(p.x), lc.y.px(p.y)}
		}
		if !ln.noLine {
			c.polyline(pts, ln.color, ln.width, ln.dash)
		}
		if ln.dots || len(pts) == 1 {
			for _, p := range pts {
				c.dot(p.x, p.y, ln.width+1.5, ln.color)
			}
		}
		drawn += len(pts)
	}
	if drawn == 0 && lc.empty != "" {
		c.text(lc.empty, (plotL+plotR)/2, (plotT+plotB)/2, labelSize, colMuted, alignCenter)
	}

	// Axes: left and bottom lines, outward ticks, labels, names.
	c.line(plotL, plotT, plotL, plotB, colAxis, 1, nil)
	c.line(plotL, plotB, plotR, plotB, colAxis, 1, nil)
	for i, v := range lc.x.ticks {
		x := lc.x.px(v)
		c.line(x, plotB, x, plotB+4, colAxis, 1, nil)
		c.text(lc.x.labels[i], x, plotB+16, tickSize, colText, alignCenter)
	}
	for i, v := range lc.y.ticks {
		y := lc.y.px(v)
		c.line(plotL-4, y, plotL, y, colAxis, 1, nil)
		c.text(lc.y.labels[i], plotL-8, y, tickSize, colText, alignRight)
	}
	c.text(lc.xName, (plotL+plotR)/2, plotB+40, labelSize, colText, alignCenter)
	c.textUp(lc.yName, pad+9, (plotT+plotB)/2, labelSize, colText)

	if cols > 0 {
		y := legendY
		if lc.legendTitle != "" {
			c.text(lc.legendTitle, legendX, y+legendRow/2, legendSize, colMuted, alignLeft)
			y += legendRow
		}
		drawLegendColumns(c, lc.legend, legendX, y, rows, colW)
	}
	return c.save(w)
}
