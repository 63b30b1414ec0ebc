package reports

import (
	"fmt"
	"io"
)

// CompareAP writes a grouped bar chart of the per-class AP of several runs, for comparing them:
// one group per class (the union of the runs' classes, in first-seen order), one bar per run in a
// colour of its own, a legend with each run's mAP and epoch, and a first group with the mAPs. A
// class that a run did not evaluate is charted as AP 0, labelled "n/a", and listed in a note.
// Runs are named by Run; repeated names get " @ epoch N". No evals, an invalid eval, or more than
// 20 runs are errors.
func (ch Charts) CompareAP(w io.Writer, evals []Eval) error {
	k := len(evals)
	if k == 0 {
		return fmt.Errorf("reports: CompareAP: no evals")
	}
	if k > len(palette) {
		return fmt.Errorf("reports: CompareAP: %d runs; at most %d can be told apart in one chart", k, len(palette))
	}
	for i, e := range evals {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("%w (CompareAP, eval %d)", err, i)
		}
	}
	m, err := newMetrics(ch.Format)
	if err != nil {
		return err
	}

	// Rows: mAP, then the union of the classes; ap[row][run], with -1 for a missing class.
	rows := []string{"mAP"}
	ap := [][]float64{make([]float64, k)}
	rowOf := map[string]int{}
	for r, e := range evals {
		ap[0][r] = e.MAP
		for _, c := range e.Classes {
			i, ok := rowOf[c.Class]
			if !ok {
				i = len(rows)
				rowOf[c.Class] = i
				rows = append(rows, c.Class)
				missing := make([]float64, k)
				for j := range missing {
					missing[j] = -1
				}
				ap = append(ap, missing)
			}
			ap[i][r] = c.AP
		}
	}
	runs, named := runLabels(evals)
	var absent []string
	for i := 1; i < len(rows); i++ {
		for r := range evals {
			if ap[i][r] < 0 {
				absent = append(absent, fmt.Sprintf("%s in %s", shorten(rows[i], nameRunes), runs[r]))
			}
		}
	}

	entries := make([]legendEntry, k)
	for r, e := range evals {
		label := fmt.Sprintf("%s (mAP %s, epoch %d)", runs[r], formatAP(e.MAP), e.Epoch)
		if named[r] {
			label = fmt.Sprintf("%s (mAP %s)", runs[r], formatAP(e.MAP))
		}
		entries[r] = legendEntry{label: label, color: palette[r], box: true}
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = shorten(r, nameRunes)
	}
	title := fmt.Sprintf("AP per class · %d runs compared", k)
	subtitle := fmt.Sprintf("%s · bars top to bottom in legend order", nClasses(len(rows)-1))

	barT := 12
	if k > 3 {
		barT = 10
	}
	bandH := k*barT + (k-1)*barGap + bandPad
	plotL := pad + m.maxWidth(labelSize, names...) + 12
	plotR := plotL + barPlotW
	right := plotR + m.width("0.000", valueSize) + 10
	legendPos, legendH := flowLegend(m, entries, right-pad)
	legendT := header(subtitle) + 8
	topAxis := len(rows)*bandH > tallRows*rowH
	plotT := legendT + legendH + 14
	if topAxis {
		plotT += 20
	}
	plotB := plotT + len(rows)*bandH
	width := max(right+pad, 2*pad+m.width(title, titleSize), 2*pad+m.width(subtitle, subtitleSize))
	var note []string // wrapped to the chart's width
	if len(absent) > 0 {
		note = wrap(m, fmt.Sprintf("n/a: class not in that run's evaluation, counted as AP 0 (%s)", joinCapped(absent, 6)),
			tickSize, width-2*pad)
	}
	height := plotB + 56 + len(note)*18 + pad

	c, err := newCanvas(ch.Format, m, width, height)
	if err != nil {
		return err
	}
	x := unitAxis()
	x.p0, x.p1 = plotL, plotR
	drawHeader(c, title, subtitle)
	for i, e := range entries {
		drawLegendEntry(c, e, pad+legendPos[i].x, legendT+legendPos[i].y+legendRow/2)
	}
	for i := 1; i < len(rows); i += 2 {
		c.rect(pad, plotT+i*bandH, right, plotT+(i+1)*bandH, rowColor(i))
	}
	for _, v := range x.ticks {
		c.line(x.px(v), plotT, x.px(v), plotB, colGrid, 1, nil)
	}
	c.line(pad, plotT+bandH, right, plotT+bandH, colAxis, 1, nil) // mAP group above, classes below
	for i := range rows {
		top := plotT + i*bandH + bandPad/2
		for r := range evals {
			cy := top + r*(barT+barGap) + barT/2
			if ap[i][r] < 0 {
				c.text("n/a", plotL+6, cy, valueSize, colMuted, alignLeft)
				continue
			}
			drawBar(c, x, cy, barT, ap[i][r], palette[r], rowColor(i))
		}
		c.text(names[i], plotL-8, plotT+i*bandH+bandH/2, labelSize, colText, alignRight)
	}
	drawAPAxis(c, x, plotT, plotB, topAxis)
	for i, l := range note {
		c.text(l, pad, plotB+64+i*18, tickSize, colMuted, alignLeft)
	}
	return c.save(w)
}

// runLabels names the runs of evals for legends: by Run, with " @ epoch N" where names repeat
// (withEpoch tells which) and " #i" where that is not enough.
func runLabels(evals []Eval) (out []string, withEpoch []bool) {
	out = make([]string, len(evals))
	withEpoch = make([]bool, len(evals))
	count := map[string]int{}
	for i, e := range evals {
		out[i] = runLabel(e.Run, i)
		count[out[i]]++
	}
	for i, e := range evals {
		if count[out[i]] > 1 {
			out[i] = fmt.Sprintf("%s @ epoch %d", out[i], e.Epoch)
			withEpoch[i] = true
		}
	}
	count = map[string]int{}
	for _, l := range out {
		count[l]++
	}
	seen := map[string]int{}
	for i, l := range out {
		if count[l] > 1 {
			seen[l]++
			out[i] = fmt.Sprintf("%s #%d", l, seen[l])
		}
	}
	return out, withEpoch
}

// joinCapped joins up to limit items with ", ", then says how many more there are.
func joinCapped(items []string, limit int) string {
	s := ""
	for i, it := range items {
		if i == limit {
			return s + fmt.Sprintf(", and %d more", len(items)-limit)
		}
		if i > 0 {
			s += ", "
		}
		s += it
	}
	return s
}
