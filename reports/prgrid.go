package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// manyClasses is the class count above which per-class charts order classes by AP (best
// first) instead of keeping the evaluation's order: with Open Images' 601 classes, the best and
// the worst are what a reader looks for, and a table finds a given class.
const manyClasses = 80

// colFill is the area under a small multiple's precision–recall curve.
var colFill = rgb(0xd4e2f1)

// PRGrid writes the precision–recall curve of every class of e as small multiples: one small
// square panel per class, recall 0 to 1 across and interpolated precision 0 to 1 up, the area
// under the curve shaded, with the class name and AP above each panel. Panels shrink and
// columns multiply with the class count (4 columns up to 12 classes, 6 up to 36, 8 up to 100,
// 12 beyond), so 80 classes fit a laptop-wide image and 601 stay legible; with more than 80
// classes the panels are ordered by AP, best first. A class without curve points says "no
// detections".
func (ch Charts) PRGrid(w io.Writer, e Eval) error {
	if err := e.Validate(); err != nil {
		return err
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	n := len(e.Classes)
	order, sorted := classOrder(e)
	var cols, side int
	switch {
	case n <= 12:
		cols, side = min(n, 4), 190
	case n <= 36:
		cols, side = 6, 150
	case n <= 100:
		cols, side = 8, 126
	default:
		cols, side = 12, 106
	}
	names := make([][]string, n) // each class's name in one line, or two when some need it
	lines := 1
	for i, cl := range e.Classes {
		names[i] = []string{shorten(cl.Class, nameRunes)}
		if m.width(names[i][0], valueSize) > side {
			lines = 2
		}
	}
	if lines == 2 {
		for i := range names {
			names[i] = nameLines(m, names[i][0], valueSize, side)
		}
	}
	const gap = 18 // between panels
	labelH := 4 + 16*lines
	rows := (n + cols - 1) / cols
	cellW, cellH := side+gap, labelH+side+gap
	title := fmt.Sprintf("Precision–recall per class · %s · mAP %.3f", runLabel(e.Run, 0), e.MAP)
	subtitle := fmt.Sprintf("epoch %d · %s · each panel: recall 0–1 across, interpolated precision 0–1 up, AP at the bottom right", e.Epoch, nClasses(n))
	if sorted {
		subtitle += " · sorted by AP, best first"
	}
	gridT := header(subtitle) + 10
	width := max(2*pad+cols*cellW-gap, 2*pad+m.width(title, titleSize), 2*pad+m.width(subtitle, subtitleSize))
	height := gridT + rows*cellH - gap + pad
	c, err := newCanvas(ch.Format, m, width, height)
	if err != nil {
		return err
	}
	drawHeader(c, title, subtitle)
	x, y := unitAxis(), unitAxis()
	for k, i := range order {
		cl := e.Classes[i]
		left := pad + (k%cols)*cellW
		top := gridT + (k/cols)*cellH
		for j, l := range names[i] {
			c.text(l, left, top+8+16*j, valueSize, colText, alignLeft)
		}
		pT, pB := top+labelH, top+labelH+side
		x.p0, x.p1 = left, left+side
		y.p0, y.p1 = pB, pT
		c.rect(left, pT, left+side, pB, colStripe)
		c.line(x.px(0.5), pT, x.px(0.5), pB, colGrid, 1, nil)
		c.line(left, y.px(0.5), left+side, y.px(0.5), colGrid, 1, nil)
		if len(cl.Recall) == 0 {
			c.text("no detections", left+side/2, pT+side/2, valueSize, colMuted, alignCenter)
		} else {
			ln := prLine(cl, colBar, nil, 1.5)
			pts := make([]pt, 0, len(ln.pts)+3)
			pts = append(pts, pt{x.px(0), y.px(ln.pts[0].y)}) // precision extends left to recall 0
			for _, p := range ln.pts {
				pts = append(pts, pt{x.px(p.x), y.px(p.y)})
			}
			pts = simplify(pts)
			area := append(append([]pt{}, pts...), pt{pts[len(pts)-1].x, pB}, pt{x.px(0), pB})
			c.polygon(area, colFill)
			c.polyline(pts, colBar, 1.5, nil)
			if len(cl.Recall) == 1 {
				c.dot(pts[len(pts)-1].x, pts[len(pts)-1].y, 2.5, colBar)
			}
		}
		c.line(left, pT, left, pB, colAxis, 1, nil)
		c.line(left, pB, left+side, pB, colAxis, 1, nil)
		apText := "AP " + formatAP(cl.AP)
		apW := m.width(apText, valueSize)
		c.rect(left+side-apW-6, pB-18, left+side, pB-2, colBackground)
		c.text(apText, left+side-3, pB-10, valueSize, colText, alignRight)
	}
	return c.save(w)
}

// classOrder returns the order in which per-class charts show e's classes: e's own order, or
// with more than manyClasses classes by AP, best first (ties in e's order), and whether it
// sorted.
func classOrder(e Eval) ([]int, bool) {
	order := make([]int, len(e.Classes))
	for i := range order {
		order[i] = i
	}
	if len(e.Classes) <= manyClasses {
		return order, false
	}
	sort.SliceStable(order, func(a, b int) bool { return e.Classes[order[a]].AP > e.Classes[order[b]].AP })
	return order, true
}

// fitText shortens s with an ellipsis until it is at most width pixels wide at size.
func fitText(m *metrics, s string, size float64, width int) string {
	if m.width(s, size) <= width {
		return s
	}
	r := []rune(s)
	for n := len(r) - 1; n > 1; n-- {
		t := string(r[:n-1]) + "…"
		if m.width(t, size) <= width {
			return t
		}
	}
	return string(r[:1]) + "…"
}

// nameLines breaks a name into at most two lines of at most width pixels at size: at spaces
// where it can, the second line shortened with an ellipsis when the rest does not fit.
func nameLines(m *metrics, s string, size float64, width int) []string {
	if m.width(s, size) <= width {
		return []string{s}
	}
	words := wrap(m, s, size, width)
	if len(words) == 0 {
		return []string{s}
	}
	first := fitText(m, words[0], size, width)
	if first != words[0] || len(words) == 1 { // one long word: cut it across the two lines
		r := []rune(s)
		k := 1
		for k < len(r) && m.width(string(r[:k+1]), size) <= width {
			k++
		}
		return []string{string(r[:k]), fitText(m, string(r[k:]), size, width)}
	}
	rest := s[len(words[0]):]
	return []string{first, fitText(m, strings.TrimSpace(rest), size, width)}
}

// simplify drops the points of a pixel path that add nothing: repeats, and the inner points
// of horizontal or vertical runs. A precision–recall curve of thousands of detections becomes
// a few hundred points, which keeps small multiples' SVG small.
func simplify(pts []pt) []pt {
	out := make([]pt, 0, len(pts))
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1] == p {
			continue
		}
		if n := len(out); n >= 2 {
			a, b := out[n-2], out[n-1]
			if (a.x == b.x && b.x == p.x) || (a.y == b.y && b.y == p.y) {
				out[n-1] = p
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// nClasses is "1 class" or "n classes".
func nClasses(n int) string {
	if n == 1 {
		return "1 class"
	}
	return fmt.Sprintf("%d classes", n)
}
