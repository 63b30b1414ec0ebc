package sweep

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/reports"
	"github.com/ssdrunner/ssdrunner/runner/report"
)

// Row is one trial in the sweep report.
type Row struct {
	Rank   int               `json:"rank"` // 1 = best; 0 for a trial without a value of the metric
	ID     string            `json:"id"`
	Index  int               `json:"index"`
	Values map[string]string `json:"values"`
	Status string            `json:"status"`
	// Metric is the sweep's metric over the trial's validations (HasMetric false without
	// any), from the validation after epoch MetricEpoch.
	Metric      float64 `json:"metric"`
	HasMetric   bool    `json:"has_metric"`
	MetricEpoch int     `json:"metric_epoch,omitempty"`
	BestMAP     float64 `json:"best_map"`
	LastMAP     float64 `json:"last_map"`
	Epochs      int     `json:"epochs_done"`
	WallSeconds float64 `json:"wall_seconds"`
	StopReason  string  `json:"stop_reason,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// Report is a sweep's trials ranked by its metric.
type Report struct {
	Dir    string  `json:"dir"`
	Record *Record `json:"-"`
	Rows   []Row   `json:"trials"` // ranked: trials with a value first, best first
	// Files are the report's files, relative to Dir.
	Files    []string `json:"files"`
	pts      map[string][]point
	compared bool // compareDir holds the comparison of the top trials
}

// TopN is how many of the best trials the report compares class by class.
const TopN = 5

// Collect reads a sweep folder (sweep.json, each trial's trial.json, summary.json and
// metrics.jsonl) and ranks its trials.
func Collect(dir string) (*Report, error) {
	rec, err := ReadRecord(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Dir: dir, Record: rec, pts: map[string][]point{}}
	m := Metric(rec.Metric)
	for i, t := range rec.Trials {
		tdir := filepath.Join(dir, t.ID)
		row := Row{ID: t.ID, Index: i, Values: t.Values, Status: StatusPending}
		st, err := ReadState(tdir)
		if err != nil {
			return nil, err
		}
		if st.Status != "" {
			row.Status = st.Status
		}
		row.Error = st.Error
		if st.Stop != nil {
			row.StopReason = st.Stop.Reason
		}
		pts, err := readValidations(tdir)
		if err != nil {
			return nil, err
		}
		r.pts[t.ID] = pts
		if v, ep, ok := m.Final(pts); ok {
			row.Metric, row.MetricEpoch, row.HasMetric = v, ep, true
		}
		for _, p := range pts {
			row.BestMAP = math.Max(row.BestMAP, p.MAP)
		}
		if len(pts) > 0 {
			row.LastMAP = pts[len(pts)-1].MAP
		}
		var sum struct {
			EpochsDone  int     `json:"epochs_done"`
			WallSeconds float64 `json:"wall_seconds"`
		}
		if data, err := os.ReadFile(filepath.Join(tdir, "summary.json")); err == nil && json.Unmarshal(data, &sum) == nil {
			row.Epochs, row.WallSeconds = sum.EpochsDone, sum.WallSeconds
		}
		r.Rows = append(r.Rows, row)
	}
	sort.SliceStable(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if a.HasMetric != b.HasMetric {
			return a.HasMetric
		}
		return a.HasMetric && m.Better(a.Metric, b.Metric)
	})
	rank := 0
	for i := range r.Rows {
		if r.Rows[i].HasMetric {
			rank++
			r.Rows[i].Rank = rank
		}
	}
	return r, nil
}

// Best returns the best trial's row, or nil when no trial has a value yet.
func (r *Report) Best() *Row {
	if len(r.Rows) == 0 || !r.Rows[0].HasMetric {
		return nil
	}
	return &r.Rows[0]
}

// WriteReport collects a sweep folder and writes its report: report.md, report.html
// (self-contained, charts inlined as SVG), ranking.csv and charts/ (PNG and SVG): the metric
// against each swept value (log axis for log-uniform params), the best value so far over
// the trials, and the per-class AP of the top trials side by side.
func WriteReport(dir string) (*Report, error) {
	r, err := Collect(dir)
	if err != nil {
		return nil, err
	}
	charts, err := r.writeCharts()
	if err != nil {
		return r, err
	}
	if err := r.writeCSV(); err != nil {
		return r, err
	}
	if err := r.compareTop(); err != nil {
		return r, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "report.md"), 0o644, func(w io.Writer) error { return r.markdown(w, charts) }); err != nil {
		return r, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "report.html"), 0o644, func(w io.Writer) error { return r.html(w, charts) }); err != nil {
		return r, err
	}
	r.Files = append([]string{"report.html", "report.md", "ranking.csv"}, r.Files...)
	if r.compared {
		r.Files = append(r.Files, compareDir+"/compare.html", compareDir+"/compare.md")
	}
	return r, nil
}

// compareDir is the folder, in the sweep folder, of the run-by-run comparison of the top
// trials (runner compare's output).
const compareDir = "compare-top"

// compareTop compares the top trials (up to TopN with a metric) run by run with
// runner/report.Compare into compareDir: losses, mAP over epochs, learning rates and
// per-class AP overlaid, and the keys that differ.
func (r *Report) compareTop() error {
	dirs, labels := r.topDirs()
	if len(dirs) == 0 {
		return nil
	}
	title := fmt.Sprintf("The top %d trials of sweep %s", len(dirs), filepath.Base(r.Dir))
	if _, err := report.Compare(context.Background(), dirs, filepath.Join(r.Dir, compareDir),
		report.CompareOptions{Labels: labels, Title: title}); err != nil {
		return fmt.Errorf("sweep report: comparing the top trials: %w", err)
	}
	r.compared = true
	return nil
}

// topDirs lists the run folders and ids of the best trials (at most TopN) that have a value.
func (r *Report) topDirs() (dirs, ids []string) {
	for _, row := range r.Rows {
		if len(dirs) == TopN || !row.HasMetric {
			break
		}
		dirs = append(dirs, filepath.Join(r.Dir, row.ID))
		ids = append(ids, row.ID)
	}
	return dirs, ids
}

// chart is one chart of the report, written as charts/<name>.png and .svg.
type chart struct {
	name, title string
	svg         []byte
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (r *Report) writeCharts() ([]chart, error) {
	cdir := filepath.Join(r.Dir, "charts")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, err
	}
	var out []chart
	var errs []error
	add := func(name, title string, draw func(reports.Charts, io.Writer) error) {
		for _, f := range []reports.Format{reports.PNG, reports.SVG} {
			path := filepath.Join(cdir, name+f.Ext())
			if err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error { return draw(reports.Charts{Format: f}, w) }); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
				return
			}
			r.Files = append(r.Files, filepath.Join("charts", name+f.Ext()))
		}
		svg, err := os.ReadFile(filepath.Join(cdir, name+".svg"))
		if err != nil {
			errs = append(errs, err)
			return
		}
		out = append(out, chart{name: name, title: title, svg: svg})
	}
	m := Metric(r.Record.Metric)
	for _, p := range r.Record.Params {
		if c, ok := r.valueChart(p); ok {
			add("metric_vs_"+unsafeName.ReplaceAllString(p.Key, "_"), m.Label()+" against "+p.Key,
				func(ch reports.Charts, w io.Writer) error { return ch.XY(w, c) })
		}
	}
	if c, ok := r.bestSoFarChart(); ok {
		add("best_so_far", m.Label()+", best so far over the trials", func(ch reports.Charts, w io.Writer) error { return ch.XY(w, c) })
	}
	if evals := r.topEvals(); len(evals) > 0 {
		add("top_trials_ap", "per-class AP of the top trials", func(ch reports.Charts, w io.Writer) error { return ch.CompareAP(w, evals) })
	}
	return out, errors.Join(errs...)
}

// valueChart is the metric against one param's values: numeric (log axis for log-uniform
// ranges) or categorical, finished and early-stopped trials as separate series.
func (r *Report) valueChart(p ParamRecord) (reports.XYChart, bool) {
	m := Metric(r.Record.Metric)
	c := reports.XYChart{Title: m.Label() + " against " + p.Key, XName: p.Key, YName: m.Label(), LogX: p.Log,
		Subtitle: fmt.Sprintf("sweep %s of %s, %d trials", r.Record.Name, r.Record.Experiment, len(r.Record.Trials))}
	numeric := true
	var cats []string
	for _, row := range r.Rows {
		v := row.Values[p.Key]
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			numeric = false
		}
	}
	if !numeric {
		cats = append(cats, p.Values...)
		for _, row := range r.Rows {
			if v := row.Values[p.Key]; !slices.Contains(cats, v) {
				cats = append(cats, v)
			}
		}
		c.Categories, c.LogX = cats, false
	}
	groups := map[string]*reports.XYChartSeries{}
	var order []string
	for _, row := range r.Rows {
		if !row.HasMetric {
			continue
		}
		var x float64
		if numeric {
			x, _ = strconv.ParseFloat(row.Values[p.Key], 64)
			if c.LogX && !(x > 0) {
				c.LogX = false
			}
		} else {
			x = float64(slices.Index(cats, row.Values[p.Key]))
		}
		g := "finished"
		switch row.Status {
		case StatusStopped:
			g = "stopped early"
		case StatusRunning, StatusInterrupted, StatusPending:
			g = "not finished"
		case StatusFailed:
			g = "failed"
		}
		s, ok := groups[g]
		if !ok {
			s = &reports.XYChartSeries{Name: g, Scatter: true}
			groups[g] = s
			order = append(order, g)
		}
		s.X = append(s.X, x)
		s.Y = append(s.Y, row.Metric)
	}
	sort.Strings(order)
	for _, g := range order {
		c.Series = append(c.Series, *groups[g])
	}
	return c, len(c.Series) > 0
}

// bestSoFarChart is every trial's metric in trial order with the best value so far.
func (r *Report) bestSoFarChart() (reports.XYChart, bool) {
	m := Metric(r.Record.Metric)
	byIndex := slices.Clone(r.Rows)
	sort.Slice(byIndex, func(i, j int) bool { return byIndex[i].Index < byIndex[j].Index })
	trials := reports.XYChartSeries{Name: "trial", Scatter: true}
	best := reports.XYChartSeries{Name: "best so far"}
	cur := math.NaN()
	for _, row := range byIndex {
		if !row.HasMetric {
			continue
		}
		x := float64(row.Index + 1)
		trials.X, trials.Y = append(trials.X, x), append(trials.Y, row.Metric)
		if math.IsNaN(cur) || m.Better(row.Metric, cur) {
			cur = row.Metric
		}
		best.X, best.Y = append(best.X, x), append(best.Y, cur)
	}
	c := reports.XYChart{Title: m.Label() + ": best so far over the trials", XName: "trial", YName: m.Label(), IntegerX: true,
		Series: []reports.XYChartSeries{best, trials}}
	return c, len(trials.X) > 0
}

// topEvals are the per-class APs of the best trials, each at the validation its metric
// comes from (read from the trial's evals/epoch-NNNN.json).
func (r *Report) topEvals() []reports.Eval {
	var out []reports.Eval
	for _, row := range r.Rows {
		if len(out) == TopN || !row.HasMetric {
			break
		}
		path := filepath.Join(r.Dir, row.ID, "evals", fmt.Sprintf("epoch-%04d.json", row.MetricEpoch))
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var ev struct {
			MAP     float64 `json:"map"`
			Classes []struct {
				Class string  `json:"class"`
				AP    float64 `json:"ap"`
			} `json:"classes"`
		}
		if json.Unmarshal(data, &ev) != nil || len(ev.Classes) == 0 {
			continue
		}
		e := reports.Eval{Run: row.ID, Epoch: row.MetricEpoch, MAP: ev.MAP}
		for _, c := range ev.Classes {
			e.Classes = append(e.Classes, reports.ClassAP{Class: c.Class, AP: c.AP})
		}
		if e.Validate() == nil {
			out = append(out, e)
		}
	}
	return out
}

func (r *Report) keys() []string {
	var out []string
	for _, p := range r.Record.Params {
		out = append(out, p.Key)
	}
	return out
}

func (r *Report) writeCSV() error {
	return fsutil.WriteFileAtomic(filepath.Join(r.Dir, "ranking.csv"), 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		head := append([]string{"rank", "trial"}, r.keys()...)
		head = append(head, "status", r.Record.Metric, "metric_epoch", "best_map", "last_map", "epochs_done", "wall_seconds", "stop_reason", "error")
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, row := range r.Rows {
			rec := []string{rankText(row), row.ID}
			for _, k := range r.keys() {
				rec = append(rec, row.Values[k])
			}
			rec = append(rec, row.Status, metricText(row), strconv.Itoa(row.MetricEpoch), fmtF(row.BestMAP), fmtF(row.LastMAP),
				strconv.Itoa(row.Epochs), strconv.FormatFloat(row.WallSeconds, 'f', 1, 64), row.StopReason, row.Error)
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

func rankText(row Row) string {
	if row.Rank == 0 {
		return ""
	}
	return strconv.Itoa(row.Rank)
}

func metricText(row Row) string {
	if !row.HasMetric {
		return ""
	}
	return fmtF(row.Metric)
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// compareCommand is the command that compares the top trials run by run.
func (r *Report) compareCommand() string {
	dirs, _ := r.topDirs()
	if len(dirs) == 0 {
		return ""
	}
	return "runner compare " + strings.Join(dirs, " ")
}

func (r *Report) summaryLine() string {
	counts := map[string]int{}
	for _, row := range r.Rows {
		counts[row.Status]++
	}
	var parts []string
	for _, s := range []string{StatusFinished, StatusStopped, StatusFailed, StatusInterrupted, StatusRunning, StatusPending} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *Report) markdown(w io.Writer, charts []chart) error {
	var b bytes.Buffer
	rec := r.Record
	m := Metric(rec.Metric)
	fmt.Fprintf(&b, "# Sweep %s of %s\n\n", rec.Name, rec.Experiment)
	fmt.Fprintf(&b, "- file: `%s`\n- method: %s, seed %d, %d trials (%s)\n- ranked by: %s\n", rec.File, rec.Method, rec.Seed, len(rec.Trials), r.summaryLine(), m.Label())
	if es := rec.Stopping; es != nil {
		fmt.Fprintf(&b, "- early stopping: %s\n", stoppingText(es.Rule, es.GraceEpochs, es.MinTrials, es.MinEpochs, es.ReductionFactor))
	}
	for _, p := range rec.Params {
		fmt.Fprintf(&b, "- param `%s`: %s\n", p.Key, paramText(p))
	}
	if best := r.Best(); best != nil {
		fmt.Fprintf(&b, "\n**Best: %s**, %s %s (epoch %d) with %s.\n", best.ID, m.Label(), fmtF(best.Metric), best.MetricEpoch, r.valuesText(*best))
	}
	fmt.Fprintf(&b, "\n## Trials ranked by %s\n\n| rank | trial |", m.Label())
	for _, k := range r.keys() {
		fmt.Fprintf(&b, " %s |", mdEscape(k))
	}
	cols := 7
	if !m.HigherIsBetter() {
		fmt.Fprintf(&b, " %s |", m.Label())
		cols++
	}
	fmt.Fprintf(&b, " status | best mAP | last mAP | from epoch | epochs | wall time | note |\n|---|---|")
	b.WriteString(strings.Repeat("---|", len(r.keys())+cols) + "\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s |", rankText(row), row.ID)
		for _, k := range r.keys() {
			fmt.Fprintf(&b, " %s |", mdEscape(row.Values[k]))
		}
		if !m.HigherIsBetter() {
			fmt.Fprintf(&b, " %s |", metricText(row))
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s | %d | %s | %s |\n", row.Status, fmtF(row.BestMAP),
			fmtF(row.LastMAP), epochText(row), row.Epochs, wallText(row.WallSeconds), mdEscape(noteText(row)))
	}
	b.WriteString("\n## Charts\n\n")
	for _, c := range charts {
		fmt.Fprintf(&b, "### %s\n\n![%s](charts/%s.png)\n\n", c.title, c.title, c.name)
	}
	b.WriteString(r.compareSection(false))
	_, err := w.Write(b.Bytes())
	return err
}

// compareSection is where the run-by-run comparison of the top trials goes. The
// comparison itself is `runner compare`'s (its own folder); this section names the
// command and the trials.
func (r *Report) compareSection(asHTML bool) string {
	cmd := r.compareCommand()
	if cmd == "" {
		return ""
	}
	const what = "Losses, mAP over epochs, learning rates and per-class AP of the top trials overlaid, and the experiment keys that differ"
	if asHTML {
		out := "<h2 id=\"compare-top-trials\">Comparison of the top trials</h2>\n<p>" + what
		if r.compared {
			out += ": <a href=\"" + compareDir + "/compare.html\">" + compareDir + "/compare.html</a>"
		}
		return out + " (made by <code>" + html.EscapeString(cmd) + "</code>).</p>\n"
	}
	out := "## Comparison of the top trials\n\n" + what
	if r.compared {
		out += ": [" + compareDir + "/compare.md](" + compareDir + "/compare.md)"
	}
	return out + ", made by:\n\n```sh\n" + cmd + "\n```\n"
}

func (r *Report) valuesText(row Row) string {
	var parts []string
	for _, k := range r.keys() {
		parts = append(parts, k+" = "+row.Values[k])
	}
	return strings.Join(parts, ", ")
}

func epochText(row Row) string {
	if !row.HasMetric {
		return ""
	}
	return strconv.Itoa(row.MetricEpoch)
}

func noteText(row Row) string {
	switch {
	case row.StopReason != "":
		return row.StopReason
	case row.Error != "":
		return row.Error
	}
	return ""
}

func wallText(s float64) string {
	if s <= 0 {
		return ""
	}
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.1f min", s/60)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func paramText(p ParamRecord) string {
	switch p.Dist {
	case "values":
		return "values " + strings.Join(p.Values, ", ")
	case "int_range":
		return fmt.Sprintf("whole numbers in [%g, %g]", p.Low, p.High)
	case "log_uniform":
		return fmt.Sprintf("log-uniform in [%g, %g]", p.Low, p.High)
	}
	return fmt.Sprintf("uniform in [%g, %g]", p.Low, p.High)
}

func stoppingText(rule string, grace, minTrials, minEpochs, rf int) string {
	if rule == "median" {
		return fmt.Sprintf("median rule (from epoch %d, with at least %d other trials to compare)", grace, minTrials)
	}
	return fmt.Sprintf("successive halving (rungs from epoch %d, factor %d, with at least %d other trials)", minEpochs, rf, minTrials)
}

func (r *Report) html(w io.Writer, charts []chart) error {
	var b bytes.Buffer
	rec := r.Record
	m := Metric(rec.Metric)
	esc := html.EscapeString
	title := fmt.Sprintf("Sweep %s of %s", rec.Name, rec.Experiment)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>%s</title>\n", esc(title))
	b.WriteString(`<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eef7ee; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; }
code { background: #f3f3f3; padding: 0 0.2em; }
</style>
</head>
<body>
`)
	fmt.Fprintf(&b, "<h1>%s</h1>\n<ul>\n<li>file: <code>%s</code></li>\n<li>method: %s, seed %d, %d trials (%s)</li>\n<li>ranked by: %s</li>\n",
		esc(title), esc(rec.File), esc(rec.Method), rec.Seed, len(rec.Trials), esc(r.summaryLine()), esc(m.Label()))
	if es := rec.Stopping; es != nil {
		fmt.Fprintf(&b, "<li>early stopping: %s</li>\n", esc(stoppingText(es.Rule, es.GraceEpochs, es.MinTrials, es.MinEpochs, es.ReductionFactor)))
	}
	for _, p := range rec.Params {
		fmt.Fprintf(&b, "<li>param <code>%s</code>: %s</li>\n", esc(p.Key), esc(paramText(p)))
	}
	b.WriteString("</ul>\n")
	if best := r.Best(); best != nil {
		fmt.Fprintf(&b, "<p><strong>Best: %s</strong>, %s %s (epoch %d) with %s.</p>\n", esc(best.ID), esc(m.Label()), fmtF(best.Metric), best.MetricEpoch, esc(r.valuesText(*best)))
	}
	fmt.Fprintf(&b, "<h2>Trials ranked by %s</h2>\n<table>\n<thead><tr><th>rank</th><th>trial</th>", esc(m.Label()))
	for _, k := range r.keys() {
		fmt.Fprintf(&b, "<th>%s</th>", esc(k))
	}
	if !m.HigherIsBetter() {
		fmt.Fprintf(&b, "<th>%s</th>", esc(m.Label()))
	}
	b.WriteString("<th>status</th><th>best mAP</th><th>last mAP</th><th>from epoch</th><th>epochs</th><th>wall time</th><th>note</th></tr></thead>\n<tbody>\n")
	for _, row := range r.Rows {
		cls := ""
		if row.Rank == 1 {
			cls = ` class="best"`
		}
		fmt.Fprintf(&b, "<tr%s><td class=\"num\">%s</td><td>%s</td>", cls, rankText(row), esc(row.ID))
		for _, k := range r.keys() {
			fmt.Fprintf(&b, "<td class=\"num\">%s</td>", esc(row.Values[k]))
		}
		if !m.HigherIsBetter() {
			fmt.Fprintf(&b, "<td class=\"num\">%s</td>", metricText(row))
		}
		fmt.Fprintf(&b, "<td>%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num\">%d</td><td class=\"num\">%s</td><td>%s</td></tr>\n",
			esc(row.Status), fmtF(row.BestMAP), fmtF(row.LastMAP), epochText(row), row.Epochs, esc(wallText(row.WallSeconds)), esc(noteText(row)))
	}
	b.WriteString("</tbody>\n</table>\n<h2>Charts</h2>\n")
	for _, c := range charts {
		fmt.Fprintf(&b, "<figure id=\"%s\">\n<figcaption>%s</figcaption>\n", esc(c.name), esc(c.title))
		b.Write(inlineSVG(c.svg))
		b.WriteString("\n</figure>\n")
	}
	b.WriteString(r.compareSection(true))
	b.WriteString("</body>\n</html>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// inlineSVG drops an SVG file's XML declaration so that it can sit inside HTML.
func inlineSVG(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		return svg[i:]
	}
	return svg
}
