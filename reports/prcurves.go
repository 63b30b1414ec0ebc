package reports

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/wcharczuk/go-chart/v2/drawing"
)

// prHighlight is how many classes PRCurves shows in colour by default; with more classes it
// shows the prHighlight/2 best and worst by AP and draws the rest in grey.
const prHighlight = 20

// PRCurves writes a precision–recall chart of e: one line per class with a legend of class names
// and APs, recall on x and precision on y. classes picks the classes to show, in the given order
// (repeats ignored; an unknown name is an error, as are more than 40). With no classes given it
// shows every class if there are at most 20; otherwise the 10 with the highest and the 10 with the
// lowest AP in colour and the others as thin grey lines (said in the subtitle). A class with no
// curve points is listed as having no detections; a curve of one point is drawn as a dot.
func (ch Charts) PRCurves(w io.Writer, e Eval, classes ...string) error {
	if err := e.Validate(); err != nil {
		return err
	}
	shown, others, note, err := pickPRClasses(e, classes)
	if err != nil {
		return err
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}
	lc := &lineChart{
		title:       fmt.Sprintf("Precision–recall · %s · mAP %.3f", runLabel(e.Run, 0), e.MAP),
		subtitle:    fmt.Sprintf("epoch %d · interpolated precision · %s", e.Epoch, note),
		xName:       "recall",
		yName:       "precision",
		x:           unitAxis(),
		y:           unitAxis(),
		plotW:       520,
		plotH:       520,
		legendTitle: "class (AP)",
		empty:       "no precision–recall points (no detections)",
	}
	for _, i := range others {
		lc.lines = append(lc.lines, prLine(e.Classes[i], colOther, nil, 1))
	}
	for k, i := range shown {
		c := e.Classes[i]
		col, dash := lineStyle(k)
		lc.lines = append(lc.lines, prLine(c, col, dash, 2))
		label := fmt.Sprintf("%s (%.3f)", shorten(c.Class, nameRunes), c.AP)
		if len(c.Recall) == 0 {
			label += " — no detections"
		}
		lc.legend = append(lc.legend, legendEntry{label: label, color: col, dash: dash})
	}
	if len(others) > 0 {
		lc.legend = append(lc.legend, legendEntry{label: fmt.Sprintf("%d other classes", len(others)), color: colOther})
	}
	// Draw the highlighted lines last-first, so that the first class of the legend lies on top.
	hl := lc.lines[len(others):]
	for i, j := 0, len(hl)-1; i < j; i, j = i+1, j-1 {
		hl[i], hl[j] = hl[j], hl[i]
	}
	return lc.render(ch.Format, m, w)
}

// prLine is the interpolated precision–recall curve of c: at each point the highest precision at
// that recall or above, the envelope that all-point AP integrates. It falls monotonically, which
// keeps many overlapping curves readable where raw precision zig-zags.
func prLine(c ClassAP, col drawing.Color, dash []float64, width float64) line {
	pts := make([]fpt, len(c.Recall))
	best := 0.0
	for i := len(c.Recall) - 1; i >= 0; i-- {
		best = math.Max(best, c.Precision[i])
		pts[i] = fpt{c.Recall[i], best}
	}
	return line{pts: pts, color: col, dash: dash, width: width}
}

// pickPRClasses returns the indexes of the classes to draw in colour (legend order), those to draw
// in grey, and a note on the choice for the subtitle.
func pickPRClasses(e Eval, classes []string) (shown, others []int, note string, err error) {
	n := len(e.Classes)
	if len(classes) > 0 {
		index := make(map[string]int, n)
		for i, c := range e.Classes {
			index[c.Class] = i
		}
		seen := map[string]bool{}
		for _, name := range classes {
			i, ok := index[name]
			if !ok {
				return nil, nil, "", fmt.Errorf("reports: PRCurves: class %q is not in the %s (it has %s)", name, e.where(), classList(e, 12))
			}
			if !seen[name] {
				seen[name] = true
				shown = append(shown, i)
			}
		}
		if len(shown) > maxLines {
			return nil, nil, "", fmt.Errorf("reports: PRCurves: %d classes asked for; at most %d lines can be told apart in one chart", len(shown), maxLines)
		}
		return shown, nil, fmt.Sprintf("%d of %d classes", len(shown), n), nil
	}
	if n <= prHighlight {
		for i := range e.Classes {
			shown = append(shown, i)
		}
		return shown, nil, nClasses(n), nil
	}
	byAP := make([]int, n)
	for i := range byAP {
		byAP[i] = i
	}
	sort.SliceStable(byAP, func(a, b int) bool { return e.Classes[byAP[a]].AP > e.Classes[byAP[b]].AP })
	pick := make([]bool, n)
	for _, i := range append(byAP[:prHighlight/2:prHighlight/2], byAP[n-prHighlight/2:]...) {
		pick[i] = true
	}
	for i := range e.Classes {
		if pick[i] {
			shown = append(shown, i)
		} else {
			others = append(others, i)
		}
	}
	return shown, others, fmt.Sprintf("%d of %d classes in colour: the %d best and %d worst by AP; the others in grey",
		prHighlight, n, prHighlight/2, prHighlight/2), nil
}

// classList names up to max classes of e, for error messages.
func classList(e Eval, limit int) string {
	var names []string
	for i, c := range e.Classes {
		if i == limit {
			names = append(names, fmt.Sprintf("… %d more", len(e.Classes)-limit))
			break
		}
		names = append(names, fmt.Sprintf("%q", c.Class))
	}
	return strings.Join(names, ", ")
}

// runLabel is the display name of a run; unnamed runs are numbered from 1.
func runLabel(run string, i int) string {
	if run == "" {
		return fmt.Sprintf("run %d", i+1)
	}
	return shorten(run, 40)
}
