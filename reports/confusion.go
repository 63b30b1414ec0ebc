package reports

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// Layout of Confusion.
const (
	confSpan     = 1000 // pixels the cells aim to span together, within the cell size limits
	confMaxCell  = 56   // largest cell side
	confMinCell  = 8    // smallest cell side
	confGridCell = 12   // cells at least this large are separated by grid lines
	confMinCount = 8.0  // smallest font of the counts; cells too small for it show none
	confBarW     = 14   // colour bar width
	confNameGap  = 8    // between the names and the cells
)

// confRamp are the shades of a cell's share of its row, 0 to 1 in equal steps: matplotlib's
// single-hue "Blues".
var confRamp = []drawing.Color{
	rgb(0xf7fbff), rgb(0xdeebf7), rgb(0xc6dbef), rgb(0x9ecae1), rgb(0x6baed6),
	rgb(0x4292c6), rgb(0x2171b5), rgb(0x08519c), rgb(0x08306b),
}

// shade is the colour of share v in [0, 1], interpolated along confRamp.
func shade(v float64) drawing.Color {
	v = min(max(v, 0), 1) * float64(len(confRamp)-1)
	i := min(int(v), len(confRamp)-2)
	f := v - float64(i)
	a, b := confRamp[i], confRamp[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + f*(float64(y)-float64(x)))) }
	return drawing.Color{R: mix(a.R, b.R), G: mix(a.G, b.G), B: mix(a.B, b.B), A: 255}
}

// inkOn is the text colour that reads best on fill: white on dark shades, colText on light.
func inkOn(fill drawing.Color) drawing.Color {
	if 0.2126*float64(fill.R)+0.7152*float64(fill.G)+0.0722*float64(fill.B) < 0.5*255 {
		return colBackground
	}
	return colText
}

// confLayout is where Confusion puts things, in pixels.
type confLayout struct {
	n               int   // classes, the background included
	order           []int // order[k] is the class shown in row and column k: the classes, then the background
	cell, sep       int   // cell side; gap before the background's row and column
	left, top       int   // top left corner of the first cell
	rowNames        []string
	colNames        []string
	nameFont        float64
	rotated         bool    // column names read bottom to top
	countFont       float64 // 0: counts not written
	totals          []int   // each class's row total, indexed as Classes
	totalX          int     // left of the row totals (with counts only)
	totalFont       float64
	barX, barH      int // colour bar
	width, height   int
	title, subtitle string
	objects, fps    int // objects counted (the classes' rows), false positives (the background's row)
}

// pos is the offset of row or column k from the first cell.
func (l *confLayout) pos(k int) int {
	p := k * l.cell
	if k == l.n-1 {
		p += l.sep
	}
	return p
}

// span is the width (and height) of all cells together.
func (l *confLayout) span() int { return l.n*l.cell + l.sep }

func layoutConfusion(m *metrics, cm ConfusionMatrix) *confLayout {
	n := len(cm.Classes)
	l := &confLayout{n: n, order: make([]int, n), totals: make([]int, n)}
	for k := range l.order {
		l.order[k] = (k + 1) % n
	}
	l.cell = min(max(confSpan/n, confMinCell), confMaxCell)
	l.sep = 2
	if l.cell >= confGridCell {
		l.sep = 6
	}
	l.nameFont = min(max(math.Floor(0.75*float64(l.cell)), 7), 13)
	l.rowNames, l.colNames = make([]string, n), make([]string, n)
	for k, i := range l.order {
		l.rowNames[k] = shorten(cm.Classes[i], nameRunes)
		l.colNames[k] = l.rowNames[k]
	}
	l.rowNames[n-1], l.colNames[n-1] = "no object (false positives)", "missed"

	largest := 0
	for t, row := range cm.Counts {
		for _, k := range row {
			l.totals[t] += k // Validate checked that no sum overflows
			largest = max(largest, k)
		}
		if t > 0 {
			l.objects += l.totals[t]
		}
	}
	l.fps = l.totals[0]
	widest := strconv.Itoa(largest)
	for f := min(valueSize, math.Floor(0.45*float64(l.cell))); f >= confMinCount; f-- {
		if m.width(widest, f) <= l.cell-6 {
			l.countFont = f
			break
		}
	}

	l.title = "Confusion matrix · " + runLabel(cm.Run, 0)
	if cm.Epoch >= 0 {
		l.title += fmt.Sprintf(" · epoch %d", cm.Epoch)
	}
	l.title += fmt.Sprintf(" · score ≥ %s, IoU ≥ %s", formatG(cm.ScoreThreshold), formatG(cm.IoUThreshold))
	l.subtitle = fmt.Sprintf("%s · %d objects · %d false positives · rows: true class, columns: detected class · shade: share of the row",
		nClasses(n-1), l.objects, l.fps)
	if l.countFont == 0 {
		l.subtitle += " · cells too small for the counts"
	}

	// Top to bottom: the header, "detected", the column names, the cells.
	colW := m.maxWidth(l.nameFont, l.colNames...)
	l.rotated = colW > l.cell-4
	colNamesH := 22
	if l.rotated {
		colNamesH = colW + 12
	}
	l.top = header(l.subtitle) + 6 + 22 + colNamesH
	// Left to right: "true" (rotated), the row names, the cells, the row totals, the colour bar.
	l.left = pad + 18 + 10 + m.maxWidth(l.nameFont, l.rowNames...) + confNameGap
	right := l.left + l.span()
	l.totalFont = min(l.nameFont, valueSize)
	if l.countFont > 0 {
		l.totalX = right + 10
		w := m.width("total", l.totalFont)
		for _, t := range l.totals {
			w = max(w, m.width(strconv.Itoa(t), l.totalFont))
		}
		right = l.totalX + w
	}
	l.barX = right + 28
	l.barH = min(max(l.span(), 140), 240)
	l.width = max(l.barX+confBarW+6+m.width("100%", tickSize)+10+18+pad,
		2*pad+m.width(l.title, titleSize), 2*pad+m.width(l.subtitle, subtitleSize))
	l.height = l.top + max(l.span(), l.barH) + pad + 8
	return l
}

// formatG writes a threshold in its shortest form: 0.25, 0.5, 1.
func formatG(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Confusion writes a detection confusion matrix as a grid of cells: a row per true class and
// a column per detected class, in the order of m.Classes, then, set apart by a gap, the
// background's row ("no object (false positives)": detections that met no object) and column
// ("missed": objects that no detection met); the corner where they cross counts nothing and
// is grey. Each cell is shaded by its count's share of its row, white to dark blue (a colour
// bar reads the shades): of a class's objects, the share detected as each class or missed;
// of all false positives, each class's share. Counts are written in their cells (zeros left
// blank) and each row's total beside it; the run, the epoch (when not negative) and the
// thresholds are in the title. Cells shrink with the class count, from 56 pixels (up to 16
// classes) to 8 (from 111, so that Open Images' 601 make a 4,800-pixel square of cells);
// the counts are left out when they do not fit their cells (from 35 to 55 classes, with the
// width of the largest count), and names longer than 28 characters are shortened with "…".
func (ch Charts) Confusion(w io.Writer, cm ConfusionMatrix) error {
	if err := cm.Validate(); err != nil {
		return err
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	l := layoutConfusion(m, cm)
	c, err := newCanvas(ch.Format, m, l.width, l.height)
	if err != nil {
		return err
	}
	drawHeader(c, l.title, l.subtitle)
	n, cell := l.n, l.cell
	x0 := func(k int) int { return l.left + l.pos(k) }
	y0 := func(k int) int { return l.top + l.pos(k) }
	right, bottom := l.left+l.span(), l.top+l.span()

	// The cells: the corner that counts nothing, then every count but zeros.
	c.rect(x0(n-1), y0(n-1), x0(n-1)+cell, y0(n-1)+cell, colStripe)
	for r, t := range l.order {
		total := float64(l.totals[t])
		for k, d := range l.order {
			v := cm.Counts[t][d]
			if v == 0 {
				continue
			}
			fill := shade(float64(v) / total)
			x, y := x0(k), y0(r)
			c.rect(x, y, x+cell, y+cell, fill)
			if l.countFont > 0 {
				c.text(strconv.Itoa(v), x+cell/2, y+cell/2, l.countFont, inkOn(fill), alignCenter)
			}
		}
	}
	// Grid lines between the cells (between the blocks only, when the cells are small), one
	// pixel wide; the classes' block and the background's row and column are framed apart.
	classEnd := (n - 1) * cell
	segments := [][2]int{{0, classEnd}, {classEnd + l.sep, l.span()}}
	var lines []int
	if l.cell >= confGridCell {
		for k := 0; k < n-1; k++ {
			lines = append(lines, k*cell)
		}
	} else {
		lines = append(lines, 0)
	}
	lines = append(lines, classEnd, classEnd+l.sep, l.span())
	for _, p := range lines {
		for _, s := range segments {
			c.rect(l.left+s[0], l.top+p, l.left+s[1]+1, l.top+p+1, colGrid)
			c.rect(l.left+p, l.top+s[0], l.left+p+1, l.top+s[1]+1, colGrid)
		}
	}

	// Names: rows on the left, columns above, and the axes' names.
	for k := 0; k < n; k++ {
		c.text(l.rowNames[k], l.left-confNameGap, y0(k)+cell/2, l.nameFont, colText, alignRight)
		cx := x0(k) + cell/2
		if l.rotated {
			c.textUp(l.colNames[k], cx, l.top-8-c.m.width(l.colNames[k], l.nameFont)/2, l.nameFont, colText)
		} else {
			c.text(l.colNames[k], cx, l.top-12, l.nameFont, colText, alignCenter)
		}
	}
	c.textUp("true", pad+9, (l.top+bottom)/2, labelSize, colText)
	c.text("detected", (l.left+right)/2, header(l.subtitle)+6+11, labelSize, colText, alignCenter)

	if l.countFont > 0 {
		c.text("total", l.totalX, l.top-12, l.totalFont, colMuted, alignLeft)
		for k, t := range l.order {
			c.text(strconv.Itoa(l.totals[t]), l.totalX, y0(k)+cell/2, l.totalFont, colMuted, alignLeft)
		}
	}

	// The colour bar: share 0 at the bottom to 1 at the top.
	const steps = 48
	barB := l.top + l.barH
	for i := 0; i < steps; i++ {
		c.rect(l.barX, barB-(i+1)*l.barH/steps, l.barX+confBarW, barB-i*l.barH/steps, shade((float64(i)+0.5)/steps))
	}
	c.line(l.barX, l.top, l.barX+confBarW, l.top, colAxis, 1, nil)
	c.line(l.barX, barB, l.barX+confBarW, barB, colAxis, 1, nil)
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := barB - int(math.Round(v*float64(l.barH)))
		c.line(l.barX+confBarW, y, l.barX+confBarW+4, y, colAxis, 1, nil)
		c.text(fmt.Sprintf("%d%%", int(math.Round(100*v))), l.barX+confBarW+6, y, tickSize, colText, alignLeft)
	}
	tickW := c.m.width("100%", tickSize)
	c.textUp("share of the row", l.barX+confBarW+6+tickW+10+9, l.top+l.barH/2, labelSize, colText)
	return c.save(w)
}
