package report

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/reports"
)

// chart is one chart of a report: its file name (without extension), its heading, and how
// to draw it.
type chart struct {
	name, title string
	draw        func(reports.Charts, io.Writer) error
	// same names an earlier chart of the list with the same drawing (the best validation is
	// the latest): its files are copied instead of drawn again.
	same string
}

func newChart(name, title string, draw func(reports.Charts, io.Writer) error) chart {
	return chart{name: name, title: title, draw: draw}
}

// sameAs marks c as drawn the same as the chart named name ("": none).
func (c chart) sameAs(name string) chart {
	c.same = name
	return c
}

// drawn is a chart written to disk: its files and its SVG, ready to inline.
type drawn struct {
	name, title string
	png, svg    string // paths relative to the report
	inline      string // the SVG element for an HTML page
	w, h        int    // the SVG's size in pixels
}

// writeCharts draws each chart as SVG and PNG into dir/charts (atomically) and returns them;
// a chart that cannot be drawn is left out and described in the returned notes.
func writeCharts(ctx context.Context, dir string, charts []chart) ([]drawn, []string, error) {
	chartsDir := filepath.Join(dir, "charts")
	if err := os.MkdirAll(chartsDir, 0o755); err != nil {
		return nil, nil, err
	}
	var out []drawn
	var notes []string
	type files struct{ svg, png []byte }
	done := map[string]files{}
	for _, c := range charts {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		f, ok := done[c.same]
		if !ok {
			var svg, png bytes.Buffer
			err := c.draw(reports.Charts{Format: reports.SVG}, &svg)
			if err == nil {
				err = c.draw(reports.Charts{Format: reports.PNG}, &png)
			}
			if err != nil {
				notes = append(notes, fmt.Sprintf("chart %s not drawn: %v", c.name, err))
				continue
			}
			f = files{svg.Bytes(), png.Bytes()}
		}
		done[c.name] = f
		svgPath := filepath.Join(chartsDir, c.name+".svg")
		if err := fsutil.WriteBytesAtomic(svgPath, 0o644, f.svg); err != nil {
			return nil, nil, err
		}
		if err := fsutil.WriteBytesAtomic(filepath.Join(chartsDir, c.name+".png"), 0o644, f.png); err != nil {
			return nil, nil, err
		}
		inline, w, h := inlineSVG(string(f.svg))
		out = append(out, drawn{name: c.name, title: c.title, png: "charts/" + c.name + ".png",
			svg: "charts/" + c.name + ".svg", inline: inline, w: w, h: h})
	}
	return out, notes, nil
}

var (
	svgOpen = regexp.MustCompile(`^<svg[^>]*>`)
	viewBox = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
)

// inlineSVG turns a chart's SVG document into an element for an HTML page: no namespace
// declarations (the HTML parser puts <svg> in the SVG namespace itself), its pixel size as
// width and height, scaled down with the page when narrower.
func inlineSVG(doc string) (string, int, int) {
	open := svgOpen.FindString(doc)
	w, h := 0, 0
	if m := viewBox.FindStringSubmatch(open); m != nil {
		w, _ = strconv.Atoi(m[1])
		h, _ = strconv.Atoi(m[2])
	}
	tag := fmt.Sprintf(`<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, w, h, w, h)
	return tag + doc[len(open):], w, h
}

// runCharts lists the charts of one run's report: per-class AP of the latest and the best
// validation, precision–recall curves (all classes in one chart, and as small multiples), the
// latest validation's confusion matrix, the losses and mAP over epochs, and each group's
// learning rate over steps.
func runCharts(r *Run) ([]chart, []string) {
	var out []chart
	var notes []string
	name := r.Name()
	last, best := r.Last(), r.BestMAP()
	if last != nil && len(last.AP) > 0 {
		ev := r.apEval(last)
		out = append(out, newChart("ap_latest", fmt.Sprintf("AP per class, latest validation (epoch %d)", last.Epoch),
			func(c reports.Charts, w io.Writer) error { return c.PerClassAP(w, ev) }))
	}
	if best != nil && len(best.AP) > 0 {
		ev := r.apEval(best)
		same := ""
		if best == last {
			same = "ap_latest"
		}
		out = append(out, newChart("ap_best", fmt.Sprintf("AP per class, best validation by mAP (epoch %d)", best.Epoch),
			func(c reports.Charts, w io.Writer) error { return c.PerClassAP(w, ev) }).sameAs(same))
	}
	if last != nil {
		ef, err := r.Eval(last.Epoch)
		switch {
		case err != nil:
			notes = append(notes, err.Error())
		case ef == nil:
			notes = append(notes, fmt.Sprintf("no evals/epoch-%04d.json: no precision–recall curves", last.Epoch))
		case len(ef.Classes) > 0:
			ev := prEval(name, ef)
			out = append(out,
				newChart("pr_latest", fmt.Sprintf("Precision–recall curves, latest validation (epoch %d)", last.Epoch),
					func(c reports.Charts, w io.Writer) error { return c.PRCurves(w, ev) }),
				newChart("pr_grid", fmt.Sprintf("Precision–recall per class, latest validation (epoch %d)", last.Epoch),
					func(c reports.Charts, w io.Writer) error { return c.PRGrid(w, ev) }))
		}
		if ef != nil && ef.Confusion != nil {
			cm := reports.ConfusionMatrix{Run: name, Epoch: last.Epoch, Classes: ef.Confusion.Classes,
				ScoreThreshold: ef.Confusion.ScoreThreshold, IoUThreshold: ef.Confusion.IoUThreshold, Counts: ef.Confusion.Counts}
			out = append(out, newChart("confusion_latest", fmt.Sprintf("Confusion matrix, latest validation (epoch %d)", last.Epoch),
				func(c reports.Charts, w io.Writer) error { return c.Confusion(w, cm) }))
		}
	}
	if loss := lossSeries(r, ""); len(loss) > 0 {
		out = append(out, newChart("loss", "Losses over epochs (solid: training, dashed: validation)",
			func(c reports.Charts, w io.Writer) error {
				return c.Curves(w, "Losses over epochs · "+name, "loss", loss)
			}))
	}
	if mp := mapSeries(r, ""); len(mp) > 0 {
		out = append(out, newChart("map", "mAP over epochs",
			func(c reports.Charts, w io.Writer) error { return c.Curves(w, "mAP over epochs · "+name, "mAP", mp) }))
	}
	if lr := lrSeries(r, ""); len(lr) > 0 {
		out = append(out, newChart("lr", "Learning rate per parameter group over steps",
			func(c reports.Charts, w io.Writer) error {
				return c.Lines(w, "Learning rate per group · "+name, "step", "learning rate", lr)
			}))
	}
	return out, notes
}

// apEval is a validation's per-class AP as a reports.Eval, classes in the run's order.
func (r *Run) apEval(v *Validation) reports.Eval {
	ev := reports.Eval{Run: r.Name(), Epoch: v.Epoch, MAP: v.MAP}
	for _, c := range r.Classes {
		if ap, ok := v.AP[c]; ok {
			ev.Classes = append(ev.Classes, reports.ClassAP{Class: c, AP: ap})
		}
	}
	return ev
}

// prEval is an evals file as a reports.Eval, with its curves.
func prEval(run string, ef *EvalFile) reports.Eval {
	ev := reports.Eval{Run: run, Epoch: ef.Epoch, MAP: ef.MAP}
	for _, c := range ef.Classes {
		ev.Classes = append(ev.Classes, reports.ClassAP{Class: c.Class, AP: c.AP, Precision: c.Precision, Recall: c.Recall})
	}
	return ev
}

// lossSeries are a run's losses over epochs. With run == "" (one run's report): total,
// regression and classification, each a colour, training solid and validation dashed. With
// a run label (a comparison): the total training and validation loss, for overlaying runs.
func lossSeries(r *Run, run string) []reports.Series {
	if run != "" {
		train := reports.Series{Run: run, Name: "training"}
		val := reports.Series{Run: run, Name: "validation"}
		for _, e := range r.Epochs {
			train.Points = appendFinite(train.Points, e.Epoch, e.Loss)
		}
		for _, v := range r.Validations {
			val.Points = appendFinite(val.Points, v.Epoch, v.Loss)
		}
		return nonEmpty(train, val)
	}
	// Run holds the loss's part and Name the split, so that Curves colours parts and dashes
	// splits.
	parts := []string{"total", "regression", "classification"}
	var out []reports.Series
	for _, split := range []string{"training", "validation"} {
		for pi, part := range parts {
			s := reports.Series{Run: part, Name: split}
			pick := func(loss, reg, cls float64) float64 { return []float64{loss, reg, cls}[pi] }
			if split == "training" {
				for _, e := range r.Epochs {
					s.Points = appendFinite(s.Points, e.Epoch, pick(e.Loss, e.Regression, e.Classification))
				}
			} else {
				for _, v := range r.Validations {
					s.Points = appendFinite(s.Points, v.Epoch, pick(v.Loss, v.Regression, v.Classification))
				}
			}
			out = append(out, s)
		}
	}
	return nonEmpty(out...)
}

// mapSeries is a run's mAP over epochs: the headline metric's, and every other metric value
// recorded (coco.AP50…). With a run label, the headline alone, named by the label.
func mapSeries(r *Run, run string) []reports.Series {
	if len(r.Validations) == 0 {
		return nil
	}
	metric := r.Validations[0].Metric
	head := reports.Series{Run: run, Name: metric + " mAP"}
	if run != "" {
		head.Name = "mAP"
	}
	others := map[string]*reports.Series{}
	for _, v := range r.Validations {
		head.Points = appendFinite(head.Points, v.Epoch, v.MAP)
		if run != "" {
			continue
		}
		for k, val := range v.Metrics {
			if k == v.Metric || k == metric {
				continue
			}
			s, ok := others[k]
			if !ok {
				s = &reports.Series{Name: k}
				others[k] = s
			}
			s.Points = appendFinite(s.Points, v.Epoch, val)
		}
	}
	out := []reports.Series{head}
	for _, k := range sortedNames(others) {
		out = append(out, *others[k])
	}
	return nonEmpty(out...)
}

// lrSeries is each parameter group's learning rate over optimizer steps (1-based): at the
// first step of each epoch (from the epoch lines) and at each logged step. With a run label
// the series are named "run" (one group) or "run · group".
func lrSeries(r *Run, run string) []reports.XYSeries {
	byGroup := map[string]map[int]float64{}
	add := func(step int, lr map[string]float64) {
		for g, v := range lr {
			if !finite(v) {
				continue
			}
			if byGroup[g] == nil {
				byGroup[g] = map[int]float64{}
			}
			byGroup[g][step] = v
		}
	}
	done := 0
	for _, e := range r.Epochs {
		add(done+1, e.LR)
		done += e.Steps
	}
	for _, s := range r.Steps {
		add(s.GlobalStep, s.LR)
	}
	var out []reports.XYSeries
	for _, g := range sortedNames(byGroup) {
		s := reports.XYSeries{Run: run, Name: g}
		for _, step := range sortedKeys(byGroup[g]) {
			s.Points = append(s.Points, reports.XY{X: float64(step), Y: byGroup[g][step]})
		}
		out = append(out, s)
	}
	if run != "" && len(out) == 1 {
		out[0].Name = ""
	}
	return out
}

func appendFinite(pts []reports.Point, epoch int, v float64) []reports.Point {
	if !finite(v) {
		return pts
	}
	return append(pts, reports.Point{Epoch: epoch, Value: v})
}

// nonEmpty drops series without points.
func nonEmpty(ss ...reports.Series) []reports.Series {
	var out []reports.Series
	for _, s := range ss {
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	return out
}
