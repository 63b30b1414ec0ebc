package reports

import (
	"fmt"
	"io"
	"strconv"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

const (
	barPlotW = 600 // pixels of the AP axis, 0 to 1
	tallRows = 25  // bar charts of more rows repeat the AP tick labels above the plot
	rowH     = 22  // PerClassAP row
	rowBar   = 14  // PerClassAP bar thickness
	bandPad  = 12  // CompareAP space between class groups
	barGap   = 2   // CompareAP space between the bars of a group
)

// PerClassAP writes a bar chart of AP per class: one horizontal bar per class, top to bottom in
// the order of e.Classes, with the class name on the left and the AP written at the end of the
// bar, a dashed line at the mAP, and the run, epoch and mAP in the title. The image grows with
// the class count (22 pixels a class); names longer than 28 characters are shortened with "…".
// More than 80 classes (Open Images has 601) are ranked by AP, best first, in columns of at
// most 100 compact rows, each column with its own AP axis.
func (ch Charts) PerClassAP(w io.Writer, e Eval) error {
	if err := e.Validate(); err != nil {
		return err
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	n := len(e.Classes)
	if n > manyClasses {
		return ch.perClassColumns(w, m, e)
	}
	names := make([]string, n)
	for i, c := range e.Classes {
		names[i] = shorten(c.Class, nameRunes)
	}
	title := fmt.Sprintf("AP per class · %s · mAP %.3f", runLabel(e.Run, 0), e.MAP)
	subtitle := fmt.Sprintf("epoch %d · %s · dashed line: mAP", e.Epoch, nClasses(n))

	plotL := pad + m.maxWidth(labelSize, names...) + 12
	plotR := plotL + barPlotW
	right := plotR + m.width("0.000", valueSize) + 10
	topAxis := n > tallRows
	plotT := header(subtitle) + 26 // room for the mAP label above the plot
	if topAxis {
		plotT += 20
	}
	plotB := plotT + n*rowH
	width := max(right+pad, 2*pad+m.width(title, titleSize), 2*pad+m.width(subtitle, subtitleSize))
	height := plotB + 56 + pad

	c, err := newCanvas(ch.Format, m, width, height)
	if err != nil {
		return err
	}
	x := unitAxis()
	x.p0, x.p1 = plotL, plotR
	drawHeader(c, title, subtitle)
	for i := 1; i < n; i += 2 {
		c.rect(pad, plotT+i*rowH, right, plotT+(i+1)*rowH, rowColor(i))
	}
	for _, v := range x.ticks {
		c.line(x.px(v), plotT, x.px(v), plotB, colGrid, 1, nil)
	}
	mx := x.px(e.MAP)
	mapLabel := "mAP " + formatAP(e.MAP)
	half := m.width(mapLabel, tickSize) / 2
	lx := min(max(mx, pad+half), width-pad-half) // keep the label inside the image
	// Above tall plots the label goes over the repeated tick labels.
	if topAxis {
		c.line(mx, plotT-4, mx, plotB, colMAP, 1.5, []float64{6, 4})
		c.text(mapLabel, lx, plotT-34, tickSize, colMAP, alignCenter)
	} else {
		c.line(mx, plotT-6, mx, plotB, colMAP, 1.5, []float64{6, 4})
		c.text(mapLabel, lx, plotT-14, tickSize, colMAP, alignCenter)
	}
	for i, cl := range e.Classes {
		cy := plotT + i*rowH + rowH/2
		drawBar(c, x, cy, rowBar, cl.AP, colBar, rowColor(i))
		c.text(names[i], plotL-8, cy, labelSize, colText, alignRight)
	}
	drawAPAxis(c, x, plotT, plotB, topAxis)
	return c.save(w)
}

// drawBar draws a horizontal bar from 0 to v, centred on cy, and writes v after its end on a
// patch of the row's background bg, so that grid and mAP lines do not run through the digits.
func drawBar(c *canvas, x axis, cy, thick int, v float64, col, bg drawing.Color) {
	x0, x1 := x.px(0), x.px(v)
	if x1 > x0 {
		c.rect(x0, cy-thick/2, x1, cy-thick/2+thick, col)
	}
	label := formatAP(v)
	c.rect(x1+2, cy-7, x1+6+c.m.width(label, valueSize), cy+7, bg)
	c.text(label, x1+4, cy, valueSize, colText, alignLeft)
}

// rowColor is the background of bar chart row i: white and light grey in turn.
func rowColor(i int) drawing.Color {
	if i%2 == 1 {
		return colStripe
	}
	return colBackground
}

// drawAPAxis draws the left edge and the bottom AP axis of a bar chart, and with top the tick
// labels again above the plot.
func drawAPAxis(c *canvas, x axis, plotT, plotB int, top bool) {
	c.line(x.p0, plotT, x.p0, plotB, colAxis, 1, nil)
	c.line(x.p0, plotB, x.p1, plotB, colAxis, 1, nil)
	for i, v := range x.ticks {
		px := x.px(v)
		c.line(px, plotB, px, plotB+4, colAxis, 1, nil)
		c.text(x.labels[i], px, plotB+16, tickSize, colText, alignCenter)
		if top {
			c.text(x.labels[i], px, plotT-10, tickSize, colText, alignCenter)
		}
	}
	c.text("average precision (AP)", (x.p0+x.p1)/2, plotB+40, labelSize, colText, alignCenter)
}

func formatAP(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// Layout of PerClassAP with many classes.
const (
	colRows  = 100 // most rows in one column
	colRowH  = 18  // row height
	colBarH  = 12  // bar thickness
	colPlotW = 260 // pixels of the AP axis of a column
	colGap   = 28  // between columns
)

// perClassColumns draws PerClassAP for more than manyClasses classes: ranked by AP, in columns.
func (ch Charts) perClassColumns(w io.Writer, m *metrics, e Eval) error {
	n := len(e.Classes)
	order, _ := classOrder(e)
	cols := (n + colRows - 1) / colRows
	rows := (n + cols - 1) / cols
	labels := make([]string, n)
	for k, i := range order {
		labels[k] = fmt.Sprintf("%d. %s", k+1, shorten(e.Classes[i].Class, nameRunes))
	}
	title := fmt.Sprintf("AP per class · %s · mAP %.3f", runLabel(e.Run, 0), e.MAP)
	subtitle := fmt.Sprintf("epoch %d · %d classes ranked by AP, best first · dashed line: mAP", e.Epoch, n)
	labelW := m.maxWidth(valueSize, labels...) + 10
	valueW := m.width("0.000", valueSize) + 10
	colW := labelW + colPlotW + valueW
	plotT := header(subtitle) + 46 // the mAP label and the repeated tick labels above
	plotB := plotT + rows*colRowH
	width := max(2*pad+cols*colW+(cols-1)*colGap, 2*pad+m.width(title, titleSize), 2*pad+m.width(subtitle, subtitleSize))
	height := plotB + 56 + pad
	c, err := newCanvas(ch.Format, m, width, height)
	if err != nil {
		return err
	}
	drawHeader(c, title, subtitle)
	x := unitAxis()
	// Fewer tick labels on the narrow axis: every 0.2.
	var ticks []float64
	var tickLabels []string
	for i, v := range x.ticks {
		if i%2 == 0 {
			ticks = append(ticks, v)
			tickLabels = append(tickLabels, x.labels[i])
		}
	}
	x.ticks, x.labels = ticks, tickLabels
	for col := 0; col < cols; col++ {
		left := pad + col*(colW+colGap)
		x.p0, x.p1 = left+labelW, left+labelW+colPlotW
		first, last := col*rows, min((col+1)*rows, n)
		for r := 1; r < last-first; r += 2 {
			c.rect(left, plotT+r*colRowH, left+colW, plotT+(r+1)*colRowH, colStripe)
		}
		for _, v := range x.ticks {
			c.line(x.px(v), plotT, x.px(v), plotB, colGrid, 1, nil)
		}
		mx := x.px(e.MAP)
		c.line(mx, plotT-4, mx, plotB, colMAP, 1.5, []float64{6, 4})
		if col == 0 {
			mapLabel := "mAP " + formatAP(e.MAP)
			half := m.width(mapLabel, tickSize) / 2
			c.text(mapLabel, max(mx, pad+half), plotT-34, tickSize, colMAP, alignCenter)
		}
		for k := first; k < last; k++ {
			r := k - first
			cy := plotT + r*colRowH + colRowH/2
			drawBar(c, x, cy, colBarH, e.Classes[order[k]].AP, colBar, rowColor(r))
			c.text(labels[k], x.p0-6, cy, valueSize, colText, alignRight)
		}
		drawAPAxis(c, x, plotT, plotB, true)
	}
	return c.save(w)
}
