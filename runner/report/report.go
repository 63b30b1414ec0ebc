package report

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

// Result says what Write or Compare wrote.
type Result struct {
	HTML     string   `json:"html"`     // report.html's path
	Markdown string   `json:"markdown"` // report.md's path
	Charts   []string `json:"charts"`   // the charts' paths (PNG and SVG)
	// Notes are what the report could not show (a chart that could not be drawn, a file cut
	// short); the report lists them too.
	Notes []string `json:"notes,omitempty"`
}

// Write reads the run folder dir and writes its report into it: report.html
// (self-contained: charts inlined as SVG, no network), report.md (the same facts and tables,
// with links to the PNGs) and charts/*.png|svg. Every file is replaced atomically. It stops
// between charts when ctx is cancelled.
func Write(ctx context.Context, dir string) (*Result, error) {
	r, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return WriteRun(ctx, r)
}

// WriteRun writes the report of a run already read (see Write).
func WriteRun(ctx context.Context, r *Run) (*Result, error) {
	charts, notes := runCharts(r)
	drawnCharts, chartNotes, err := writeCharts(ctx, r.Dir, charts)
	if err != nil {
		return nil, err
	}
	notes = append(append(append([]string{}, r.Notes...), notes...), chartNotes...)
	byName := map[string]drawn{}
	res := &Result{HTML: filepath.Join(r.Dir, "report.html"), Markdown: filepath.Join(r.Dir, "report.md"), Notes: notes}
	for _, d := range drawnCharts {
		byName[d.name] = d
		res.Charts = append(res.Charts, filepath.Join(r.Dir, d.png), filepath.Join(r.Dir, d.svg))
	}
	if err := fsutil.WriteBytesAtomic(res.HTML, 0o644, []byte(runHTML(r, byName, notes))); err != nil {
		return nil, err
	}
	if err := fsutil.WriteBytesAtomic(res.Markdown, 0o644, []byte(runMarkdown(r, byName, notes))); err != nil {
		return nil, err
	}
	return res, nil
}

// facts are the run's facts, label and value, for both formats.
func (r *Run) facts() [][2]string {
	flat := r.Flat()
	get := func(k string) string {
		if v, ok := flat[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	var rows [][2]string
	add := func(label, value string) {
		if value != "" {
			rows = append(rows, [2]string{label, value})
		}
	}
	status := r.Status()
	if r.Error() != "" {
		status += ": " + firstLine(r.Error())
	}
	add("Status", status)
	exp := r.ExperimentName()
	if d := get("description"); d != "" {
		exp += " — " + d
	}
	add("Experiment", exp)
	add("Run folder", r.Dir)

	model := get("model.backbone.type")
	if w := get("model.backbone.width_mult"); w != "" {
		model += " ×" + w
	}
	if h := get("model.head.type"); h != "" {
		model += " · head " + h
	}
	if a := get("model.anchors.type"); a != "" {
		model += " · anchors " + a
	}
	if p := r.Plan; p != nil {
		if model == "" {
			model = p.Model.Backbone + " · head " + p.Model.Head
		}
		if p.Anchors.Total > 0 {
			model += fmt.Sprintf(" (%s priors, %d px input)", fmtCount(int64(p.Anchors.Total)), p.Anchors.ImageSize)
		}
	}
	add("Model", model)
	nClasses := len(r.Classes)
	if r.Plan != nil && r.Plan.Model.NumClasses > 0 {
		add("Classes", fmt.Sprintf("%d (with background)", r.Plan.Model.NumClasses))
	} else if nClasses > 0 {
		add("Classes", fmt.Sprintf("%d evaluated", nClasses))
	}
	if p := r.Plan; p != nil && p.Model.Params > 0 {
		add("Parameters", fmt.Sprintf("%s (%s trainable)", fmtCount(p.Model.Params), fmtCount(p.Model.Trainable)))
	}
	add("Training data", r.trainData(get))
	add("Validation data", r.valData(get))
	opt := get("optimizer.type")
	if lr := get("optimizer.lr"); lr != "" {
		opt += ", lr " + lr
	}
	if wd := get("optimizer.weight_decay"); wd != "" && wd != "0" {
		opt += ", weight decay " + wd
	}
	if s := get("scheduler.type"); s != "" {
		opt += " · schedule " + s
	}
	add("Optimizer", opt)
	planned := get("training.epochs")
	if r.Summary != nil && r.Summary.Epochs > 0 {
		planned = fmt.Sprint(r.Summary.Epochs)
	}
	epochs := fmt.Sprint(len(r.Epochs))
	if planned != "" {
		epochs += " of " + planned
	}
	add("Epochs", epochs)
	if r.Summary != nil {
		add("Steps", fmtCount(int64(r.Summary.Steps)))
		add("Wall time", fmtDuration(r.Summary.WallSeconds))
	} else {
		secs := 0.0
		for _, e := range r.Epochs {
			secs += e.Seconds
		}
		for _, v := range r.Validations {
			secs += v.Seconds
		}
		add("Time so far", fmtDuration(secs))
	}
	add("Images per second", r.imagesPerSec())
	if r.Summary != nil {
		if n := len(r.Summary.Skipped); n > 0 {
			add("Skipped samples", fmt.Sprintf("%d: %s", n, capList(r.Summary.Skipped, 5)))
		} else {
			add("Skipped samples", "none")
		}
		if r.Summary.NonFinite > 0 {
			add("Non-finite batches skipped", fmt.Sprint(r.Summary.NonFinite))
		}
	}
	if b := r.BestMAP(); b != nil {
		add("Best mAP", fmt.Sprintf("%s (epoch %d, %s)", fmtAP(b.MAP), b.Epoch, b.Metric))
	}
	if l := r.Last(); l != nil {
		add("Last mAP", fmt.Sprintf("%s (epoch %d)", fmtAP(l.MAP), l.Epoch))
	} else {
		add("Last mAP", "no validation yet")
	}
	if r.Summary != nil && r.Summary.Best != nil {
		b := r.Summary.Best
		add("Best checkpoint", fmt.Sprintf("epoch %d, by %s %s", b.Epoch, b.Metric, fmtG(b.Value)))
	}
	return rows
}

func (r *Run) trainData(get func(string) string) string {
	typ := get("data.train.type")
	images := 0
	if r.Plan != nil {
		images = r.Plan.Data.Train.Images
	} else if len(r.Epochs) > 0 {
		images = r.Epochs[0].Images // a full epoch sees every image once
	}
	s := typ
	if images > 0 {
		s = strings.TrimSpace(fmt.Sprintf("%s, %s images", typ, fmtCount(int64(images))))
	}
	if b := get("data.batch_size"); b != "" {
		s += ", batch " + b
	}
	if n := r.StepsPerEpoch(); n > 0 {
		s += fmt.Sprintf(", %d steps an epoch", n)
	}
	return strings.TrimPrefix(s, ", ")
}

func (r *Run) valData(get func(string) string) string {
	typ := get("data.validation.type")
	images := 0
	if r.Plan != nil && r.Plan.Data.Validation != nil {
		images = r.Plan.Data.Validation.Images
	} else if l := r.Last(); l != nil {
		images = l.Images
	}
	if typ == "" && images == 0 {
		return ""
	}
	if images == 0 {
		return typ
	}
	s := fmt.Sprintf("%s, %s images", typ, fmtCount(int64(images)))
	if v := get("training.validate_every"); v != "" && v != "0" {
		s += ", validated every " + v + " epochs and after the last"
	}
	return strings.TrimPrefix(s, ", ")
}

func (r *Run) imagesPerSec() string {
	if r.Summary != nil && r.Summary.ImagesPerSec > 0 {
		return fmt.Sprintf("%.1f (training)", r.Summary.ImagesPerSec)
	}
	var imgs, secs float64
	for _, e := range r.Epochs {
		imgs += float64(e.Images)
		secs += e.Seconds
	}
	if secs > 0 {
		return fmt.Sprintf("%.1f (training)", imgs/secs)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func capList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// apRows are the per-class AP rows: class, latest AP and (when it is another validation)
// best AP.
func (r *Run) apRows() (head []string, rows [][]cell, mdRows [][]string) {
	last, best := r.Last(), r.BestMAP()
	if last == nil {
		return nil, nil, nil
	}
	head = []string{"#", "class", fmt.Sprintf("AP, epoch %d (latest)", last.Epoch)}
	twoCols := best != nil && best.Epoch != last.Epoch
	if twoCols {
		head = append(head, fmt.Sprintf("AP, epoch %d (best mAP)", best.Epoch))
	}
	for i, c := range r.Classes {
		ap, ok := last.AP[c]
		if !ok {
			ap = nan
		}
		row := []cell{numCell(fmt.Sprint(i+1), float64(i+1)), txt(c), numCell(fmtAP(ap), ap)}
		mdRow := []string{fmt.Sprint(i + 1), c, fmtAP(ap)}
		if twoCols {
			bap, ok := best.AP[c]
			if !ok {
				bap = nan
			}
			row = append(row, numCell(fmtAP(bap), bap))
			mdRow = append(mdRow, fmtAP(bap))
		}
		rows = append(rows, row)
		mdRows = append(mdRows, mdRow)
	}
	return head, rows, mdRows
}

// validationRows are one row per validation: epoch, losses, mAP and the other metric values.
func (r *Run) validationRows() (head []string, numeric []bool, rows [][]cell, mdRows [][]string) {
	extra := map[string]bool{}
	for _, v := range r.Validations {
		for k := range v.Metrics {
			if k != v.Metric {
				extra[k] = true
			}
		}
	}
	extraNames := sortedNames(extra)
	head = append([]string{"epoch", "val loss", "regression", "classification", "mAP"}, extraNames...)
	head = append(head, "images", "seconds")
	numeric = make([]bool, len(head))
	for i := range numeric {
		numeric[i] = true
	}
	for _, v := range r.Validations {
		row := []cell{numCell(fmt.Sprint(v.Epoch), float64(v.Epoch)), numCell(fmtLoss(v.Loss), v.Loss),
			numCell(fmtLoss(v.Regression), v.Regression), numCell(fmtLoss(v.Classification), v.Classification),
			numCell(fmtAP(v.MAP), v.MAP)}
		for _, k := range extraNames {
			val, ok := v.Metrics[k]
			if !ok {
				val = nan
			}
			row = append(row, numCell(fmtAP(val), val))
		}
		row = append(row, numCell(fmt.Sprint(v.Images), float64(v.Images)), numCell(fmt.Sprintf("%.1f", v.Seconds), v.Seconds))
		rows = append(rows, row)
		mdRow := make([]string, len(row))
		for i, c := range row {
			mdRow[i] = c.text
		}
		mdRows = append(mdRows, mdRow)
	}
	return head, numeric, rows, mdRows
}

// epochRows are one row per trained epoch, with the validation after it where there is one.
func (r *Run) epochRows() (head []string, numeric []bool, rows [][]cell) {
	groups := map[string]bool{}
	for _, e := range r.Epochs {
		for g := range e.LR {
			groups[g] = true
		}
	}
	names := sortedNames(groups)
	head = []string{"epoch", "train loss", "regression", "classification", "val loss", "mAP"}
	for _, g := range names {
		head = append(head, "lr "+g)
	}
	head = append(head, "images/s", "seconds")
	numeric = make([]bool, len(head))
	for i := range numeric {
		numeric[i] = true
	}
	val := map[int]*Validation{}
	for i := range r.Validations {
		val[r.Validations[i].Epoch] = &r.Validations[i]
	}
	for _, e := range r.Epochs {
		vl, mp := nan, nan
		if v := val[e.Epoch]; v != nil {
			vl, mp = v.Loss, v.MAP
		}
		row := []cell{numCell(fmt.Sprint(e.Epoch), float64(e.Epoch)), numCell(fmtLoss(e.Loss), e.Loss),
			numCell(fmtLoss(e.Regression), e.Regression), numCell(fmtLoss(e.Classification), e.Classification),
			numCell(fmtLoss(vl), vl), numCell(fmtAP(mp), mp)}
		for _, g := range names {
			lr, ok := e.LR[g]
			if !ok {
				lr = nan
			}
			row = append(row, numCell(fmtG(lr), lr))
		}
		row = append(row, numCell(fmt.Sprintf("%.1f", e.ImagesPerSec), e.ImagesPerSec), numCell(fmt.Sprintf("%.1f", e.Seconds), e.Seconds))
		rows = append(rows, row)
	}
	return head, numeric, rows
}

// runHTML is report.html.
func runHTML(r *Run, charts map[string]drawn, notes []string) string {
	var p page
	title := "Run report · " + r.Name()
	p.start(title)
	statusClass := r.Status()
	if statusClass == "in progress" {
		statusClass = "progress"
	}
	p.raw("<h1>%s <span class=\"status %s\">%s</span></h1>\n", esc(r.Name()), esc(statusClass), esc(r.Status()))
	p.para("sub", "Run report written by runner from the run folder's files. Click a table heading to sort.")
	p.facts(r.facts())
	if r.Error() != "" {
		p.raw("<div class=\"err\">%s</div>\n", esc(r.Error()))
	}
	for _, n := range notes {
		p.raw("<div class=\"note\">%s</div>\n", esc(n))
	}

	p.h2("ap", "Average precision per class")
	if d, ok := charts["ap_latest"]; ok {
		p.figure(d)
	}
	if head, rows, _ := r.apRows(); rows != nil {
		numeric := []bool{true, false, true, true}
		p.table(head, numeric, rows, true, len(rows) > 25)
		if d, ok := charts["ap_best"]; ok && r.BestMAP().Epoch != r.Last().Epoch {
			p.raw("<details><summary>%s</summary>", esc("Chart of the best validation by mAP"))
			p.figure(d)
			p.raw("</details>\n")
		}
	} else {
		p.para("muted", "No validation yet: per-class AP appears after the first one.")
	}

	if d, ok := charts["pr_grid"]; ok {
		p.h2("pr", "Precision–recall curves")
		p.figure(d)
		if d2, ok := charts["pr_latest"]; ok {
			p.raw("<details><summary>%s</summary>", esc("All classes in one chart"))
			p.figure(d2)
			p.raw("</details>\n")
		}
	}
	if d, ok := charts["confusion_latest"]; ok {
		p.h2("confusion", "Confusion matrix")
		p.figure(d)
	}

	p.h2("loss", "Losses")
	if d, ok := charts["loss"]; ok {
		p.figure(d)
	} else {
		p.para("muted", "No epoch finished yet.")
	}
	if d, ok := charts["map"]; ok {
		p.h2("map", "mAP over epochs")
		p.figure(d)
	}
	if len(r.Validations) > 0 {
		p.h2("validations", "Validations")
		head, numeric, rows, _ := r.validationRows()
		p.table(head, numeric, rows, true, len(rows) > 25)
	}
	if d, ok := charts["lr"]; ok {
		p.h2("lr", "Learning rate")
		p.figure(d)
	}
	if len(r.Epochs) > 0 {
		p.h2("epochs", "Epochs")
		head, numeric, rows := r.epochRows()
		p.table(head, numeric, rows, true, len(rows) > 25)
	}
	p.h2("experiment", "Resolved experiment")
	if r.HCL != "" {
		p.para("", "Every default, inherited value and override applied (experiment.hcl of the run folder; it loads back to the same experiment).")
		p.details("experiment.hcl", r.HCL)
	} else {
		p.para("muted", "The run folder has no experiment.hcl.")
	}
	return p.end()
}

// runMarkdown is report.md: the same facts and tables, the charts as links to their PNGs.
func runMarkdown(r *Run, charts map[string]drawn, notes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Run report: %s (%s)\n\n", r.Name(), r.Status())
	var rows [][]string
	for _, f := range r.facts() {
		rows = append(rows, []string{f[0], f[1]})
	}
	mdTable(&b, []string{"", ""}, nil, rows)
	if r.Error() != "" {
		fmt.Fprintf(&b, "**Error:** `%s`\n\n", strings.ReplaceAll(firstLine(r.Error()), "`", "'"))
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "> Note: %s\n\n", n)
	}
	image := func(name string) {
		if d, ok := charts[name]; ok {
			fmt.Fprintf(&b, "![%s](%s)\n\n", d.title, d.png)
		}
	}
	b.WriteString("## Average precision per class\n\n")
	image("ap_latest")
	if head, _, mdRows := r.apRows(); mdRows != nil {
		numeric := []bool{true, false, true, true}
		mdTable(&b, head, numeric, mdRows)
		if r.BestMAP().Epoch != r.Last().Epoch {
			image("ap_best")
		}
	} else {
		b.WriteString("No validation yet.\n\n")
	}
	if _, ok := charts["pr_grid"]; ok {
		b.WriteString("## Precision–recall curves\n\n")
		image("pr_grid")
	}
	if _, ok := charts["confusion_latest"]; ok {
		b.WriteString("## Confusion matrix\n\n")
		image("confusion_latest")
	}
	b.WriteString("## Losses\n\n")
	image("loss")
	if len(r.Validations) > 0 {
		b.WriteString("## mAP and validations\n\n")
		image("map")
		head, numeric, _, mdRows := r.validationRows()
		mdTable(&b, head, numeric, mdRows)
	}
	if _, ok := charts["lr"]; ok {
		b.WriteString("## Learning rate\n\n")
		image("lr")
	}
	if len(r.Epochs) > 0 {
		b.WriteString("## Epochs\n\n")
		head, numeric, rows := r.epochRows()
		mdTable(&b, head, numeric, cellTexts(rows))
	}
	if r.HCL != "" {
		b.WriteString("## Resolved experiment\n\n<details><summary>experiment.hcl</summary>\n\n```hcl\n")
		b.WriteString(strings.TrimRight(r.HCL, "\n"))
		b.WriteString("\n```\n\n</details>\n")
	}
	return b.String()
}
