package reports

import "github.com/wcharczuk/go-chart/v2/drawing"

// legendEntry is one line of a legend: a swatch and a label.
type legendEntry struct {
	label string
	color drawing.Color
	dash  []float64 // line swatches only
	box   bool      // a filled box (bars) instead of a line
}

const (
	legendSize   = 13.0 // font size
	legendRow    = 20   // row height
	legendSwatch = 28   // swatch width
	legendGap    = 6    // swatch to label
	legendColGap = 18   // between columns
)

// legendColumns lays entries out top to bottom in columns of at most rows entries and returns
// the number of columns, the column width and the total width.
func legendColumns(m *metrics, entries []legendEntry, rows int) (cols, colW, width int) {
	if len(entries) == 0 {
		return 0, 0, 0
	}
	rows = max(rows, 1)
	cols = (len(entries) + rows - 1) / rows
	labelW := 0
	for _, e := range entries {
		labelW = max(labelW, m.width(e.label, legendSize))
	}
	colW = legendSwatch + legendGap + labelW
	return cols, colW, cols*colW + (cols-1)*legendColGap
}

// drawLegendColumns draws entries from (x, y), the top left, in columns as legendColumns laid out.
func drawLegendColumns(c *canvas, entries []legendEntry, x, y, rows, colW int) {
	rows = max(rows, 1)
	for i, e := range entries {
		ex := x + (i/rows)*(colW+legendColGap)
		ey := y + (i%rows)*legendRow + legendRow/2
		drawLegendEntry(c, e, ex, ey)
	}
}

// flowLegend lays entries out left to right, wrapping at width, and returns each entry's
// position relative to the legend's top left and the legend's height.
func flowLegend(m *metrics, entries []legendEntry, width int) (pos []pt, height int) {
	x, y := 0, 0
	for _, e := range entries {
		w := legendSwatch + legendGap + m.width(e.label, legendSize)
		if x > 0 && x+w > width {
			x, y = 0, y+legendRow
		}
		pos = append(pos, pt{x, y})
		x += w + 2*legendColGap
	}
	if len(entries) == 0 {
		return nil, 0
	}
	return pos, y + legendRow
}

// drawLegendEntry draws one entry whose swatch starts at x, centred vertically on cy.
func drawLegendEntry(c *canvas, e legendEntry, x, cy int) {
	if e.box {
		c.rect(x+6, cy-6, x+legendSwatch-6, cy+6, e.color)
	} else {
		c.line(x, cy, x+legendSwatch, cy, e.color, 2.5, e.dash)
	}
	c.text(e.label, x+legendSwatch+legendGap, cy, legendSize, colText, alignLeft)
}
