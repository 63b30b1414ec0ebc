package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/reports"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// MaxCompare is the most runs one comparison charts: the colours a chart can tell apart.
const MaxCompare = 20

// CompareOptions configure Compare.
type CompareOptions struct {
	// Which validation of each run the per-class AP chart shows: "best" (highest mAP, the
	// default) or "latest".
	Which string
	// Labels name the runs in charts and tables, one per run; empty: the shortest distinct
	// ends of the runs' folder paths.
	Labels []string
	// Title heads compare.html and compare.md (default "Comparison of N runs").
	Title string
}

// Comparison is what Compare found, for callers that show more (a sweep report).
type Comparison struct {
	Result
	Runs   []*Run
	Labels []string
	// Common are the classes every compared run evaluated, in the first run's order; Only
	// lists, per run label, the classes only some runs have.
	Common []string
	Only   map[string][]string
	// Keys are the experiment keys whose values differ between the runs, sorted.
	Keys []string
}

// ExpandRunDirs turns arguments into run folders: a run folder stays itself; another folder
// (a sweep folder, an experiment's folder of runs) gives the run folders below it, up to
// three levels down, sorted. A folder with no run below it is an error.
func ExpandRunDirs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: not a folder (give run folders, or folders of runs)", a)
		}
		if IsRunDir(a) {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() || path == a {
				return nil
			}
			rel, _ := filepath.Rel(a, path)
			if IsRunDir(path) {
				found = append(found, path)
				return filepath.SkipDir
			}
			if strings.Count(rel, string(filepath.Separator)) >= 2 || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: neither a run folder (metrics.jsonl, summary.json, experiment.json) nor a folder with runs below it", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Compare reads the run folders dirs and writes their comparison into out: compare.html
// (self-contained), compare.md and charts/ (PNG and SVG): per-class AP as grouped bars on the
// classes all runs share (the best or latest validation of each), mAP, losses and learning
// rates overlaid, and a table of the experiment keys that differ with each run's best and
// last mAP. Runs with other class sets are compared on their common classes, the others
// listed. At most MaxCompare runs.
func Compare(ctx context.Context, dirs []string, out string, opts CompareOptions) (*Comparison, error) {
	if len(dirs) == 0 {
		return nil, fmt.Errorf("compare: no run folders")
	}
	if len(dirs) > MaxCompare {
		return nil, fmt.Errorf("compare: %d runs; at most %d can be told apart in one chart (compare the best ones)", len(dirs), MaxCompare)
	}
	switch opts.Which {
	case "":
		opts.Which = "best"
	case "best", "latest":
	default:
		return nil, fmt.Errorf("compare: which validation %q: want best or latest", opts.Which)
	}
	if len(opts.Labels) > 0 && len(opts.Labels) != len(dirs) {
		return nil, fmt.Errorf("compare: %d labels for %d runs", len(opts.Labels), len(dirs))
	}
	c := &Comparison{}
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := Load(d)
		if err != nil {
			return nil, err
		}
		c.Runs = append(c.Runs, r)
	}
	c.Labels = opts.Labels
	if len(c.Labels) == 0 {
		c.Labels = runLabels(dirs)
	}
	c.classSets()
	c.diffKeys()
	if opts.Title == "" {
		opts.Title = fmt.Sprintf("Comparison of %d runs", len(c.Runs))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	charts, notes := c.charts(opts.Which)
	drawnCharts, chartNotes, err := writeCharts(ctx, out, charts)
	if err != nil {
		return nil, err
	}
	for i, r := range c.Runs {
		for _, n := range r.Notes {
			notes = append(notes, c.Labels[i]+": "+n)
		}
	}
	notes = append(notes, chartNotes...)
	c.Notes = notes
	byName := map[string]drawn{}
	for _, d := range drawnCharts {
		byName[d.name] = d
		c.Charts = append(c.Charts, filepath.Join(out, d.png), filepath.Join(out, d.svg))
	}
	c.HTML, c.Markdown = filepath.Join(out, "compare.html"), filepath.Join(out, "compare.md")
	if err := fsutil.WriteBytesAtomic(c.HTML, 0o644, []byte(c.html(opts, byName))); err != nil {
		return nil, err
	}
	if err := fsutil.WriteBytesAtomic(c.Markdown, 0o644, []byte(c.markdown(opts, byName))); err != nil {
		return nil, err
	}
	return c, nil
}

// runLabels names runs by the shortest ends of their paths that tell them apart
// ("lr01", "quickstart/lr01", …), numbering what stays equal.
func runLabels(dirs []string) []string {
	parts := make([][]string, len(dirs))
	for i, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			abs = d
		}
		parts[i] = strings.Split(filepath.ToSlash(filepath.Clean(abs)), "/")
	}
	labels := make([]string, len(dirs))
	for depth := 1; ; depth++ {
		count := map[string]int{}
		longest := true
		for i, p := range parts {
			k := max(0, len(p)-depth)
			labels[i] = strings.Join(p[k:], "/")
			count[labels[i]]++
			if k > 0 {
				longest = false
			}
		}
		distinct := true
		for _, n := range count {
			if n > 1 {
				distinct = false
			}
		}
		if distinct || longest {
			break
		}
	}
	seen := map[string]int{}
	count := map[string]int{}
	for _, l := range labels {
		count[l]++
	}
	for i, l := range labels {
		if count[l] > 1 {
			seen[l]++
			labels[i] = fmt.Sprintf("%s #%d", l, seen[l])
		}
	}
	return labels
}

// classSets finds the classes all runs share and those only some have.
func (c *Comparison) classSets() {
	in := map[string]int{}
	for _, r := range c.Runs {
		for _, cl := range r.Classes {
			in[cl]++
		}
	}
	var withClasses int
	for _, r := range c.Runs {
		if len(r.Classes) > 0 {
			withClasses++
		}
	}
	c.Only = map[string][]string{}
	for i, r := range c.Runs {
		for _, cl := range r.Classes {
			if in[cl] == withClasses {
				if i == c.firstWithClasses() {
					c.Common = append(c.Common, cl)
				}
			} else {
				c.Only[c.Labels[i]] = append(c.Only[c.Labels[i]], cl)
			}
		}
	}
}

func (c *Comparison) firstWithClasses() int {
	for i, r := range c.Runs {
		if len(r.Classes) > 0 {
			return i
		}
	}
	return -1
}

// diffKeys lists the experiment keys whose values differ between any two runs.
func (c *Comparison) diffKeys() {
	keys := map[string]bool{}
	for i := 1; i < len(c.Runs); i++ {
		for _, k := range config.Diff(c.Runs[0].Experiment, c.Runs[i].Experiment) {
			keys[k] = true
		}
	}
	c.Keys = sortedNames(keys)
}

// value is a run's value of a dotted experiment key, as text ("–" when it has none).
func value(flat map[string]any, key string) string {
	v, ok := flat[key]
	if !ok {
		return "–"
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "null"
	case []any, map[string]any:
		js, err := json.Marshal(x)
		if err == nil {
			return string(js)
		}
	}
	return fmt.Sprint(v)
}

// pick is the validation of r a per-class comparison shows.
func pick(r *Run, which string) *Validation {
	if which == "latest" {
		return r.Last()
	}
	return r.BestMAP()
}

// charts lists the comparison's charts.
func (c *Comparison) charts(which string) ([]chart, []string) {
	var out []chart
	var notes []string
	var evals []reports.Eval
	var missing []string
	common := map[string]bool{}
	for _, cl := range c.Common {
		common[cl] = true
	}
	sameSets := len(c.Only) == 0
	for i, r := range c.Runs {
		v := pick(r, which)
		if v == nil || len(v.AP) == 0 {
			missing = append(missing, c.Labels[i])
			continue
		}
		ev := reports.Eval{Run: c.Labels[i], Epoch: v.Epoch, MAP: v.MAP}
		sum, n := 0.0, 0
		for _, cl := range c.Common {
			if ap, ok := v.AP[cl]; ok {
				ev.Classes = append(ev.Classes, reports.ClassAP{Class: cl, AP: ap})
				sum += ap
				n++
			}
		}
		if !sameSets && n > 0 {
			ev.MAP = sum / float64(n) // the mean over the common classes, comparable across runs
		}
		if len(ev.Classes) > 0 {
			evals = append(evals, ev)
		}
	}
	if len(missing) > 0 {
		notes = append(notes, "no validation yet, left out of the per-class AP chart: "+strings.Join(missing, ", "))
	}
	switch {
	case len(evals) > 0:
		title := fmt.Sprintf("AP per class, %s validation of each run", which)
		if !sameSets {
			title += fmt.Sprintf(" (the %d classes all runs share; mAP over them)", len(c.Common))
		}
		out = append(out, newChart("ap", title, func(ch reports.Charts, w io.Writer) error { return ch.CompareAP(w, evals) }))
	case len(c.Common) == 0 && len(c.Runs) > 1:
		notes = append(notes, "the runs share no class: no per-class AP chart")
	}
	var mp, loss []reports.Series
	var lr []reports.XYSeries
	for i, r := range c.Runs {
		mp = append(mp, mapSeries(r, c.Labels[i])...)
		loss = append(loss, lossSeries(r, c.Labels[i])...)
		lr = append(lr, lrSeries(r, c.Labels[i])...)
	}
	if len(mp) > 0 {
		out = append(out, newChart("map", "mAP over epochs", func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "mAP over epochs", "mAP", mp)
		}))
	}
	if len(loss) > 0 {
		out = append(out, newChart("loss", "Loss over epochs (solid: training, dashed: validation)", func(ch reports.Charts, w io.Writer) error {
			return ch.Curves(w, "Loss over epochs", "loss", loss)
		}))
	}
	if len(lr) > 0 {
		out = append(out, newChart("lr", "Learning rate over steps", func(ch reports.Charts, w io.Writer) error {
			return ch.Lines(w, "Learning rate over steps", "step", "learning rate", lr)
		}))
	}
	return out, notes
}

// runRows are the comparison's run table: label, status, epochs, best and last mAP, time.
func (c *Comparison) runRows() (head []string, numeric []bool, rows [][]cell) {
	head = []string{"run", "folder", "status", "epochs", "best mAP", "best epoch", "last mAP", "last epoch", "wall time", "images/s"}
	numeric = []bool{false, false, false, true, true, true, true, true, true, true}
	for i, r := range c.Runs {
		bm, be, lm, le := nan, nan, nan, nan
		if b := r.BestMAP(); b != nil {
			bm, be = b.MAP, float64(b.Epoch)
		}
		if l := r.Last(); l != nil {
			lm, le = l.MAP, float64(l.Epoch)
		}
		wall, ips := nan, nan
		if r.Summary != nil {
			wall, ips = r.Summary.WallSeconds, r.Summary.ImagesPerSec
		}
		rows = append(rows, []cell{txt(c.Labels[i]), txt(r.Dir), txt(r.Status()),
			numCell(fmt.Sprint(len(r.Epochs)), float64(len(r.Epochs))),
			numCell(fmtAP(bm), bm), numCell(fmtInt(be), be), numCell(fmtAP(lm), lm), numCell(fmtInt(le), le),
			numCell(fmtDuration(wall), wall), numCell(fmtFixed1(ips), ips)})
	}
	return head, numeric, rows
}

// keyRows are the table of differing experiment keys: one row per key, one column per run.
func (c *Comparison) keyRows() (head []string, rows [][]cell) {
	head = append([]string{"experiment key"}, c.Labels...)
	flats := make([]map[string]any, len(c.Runs))
	for i, r := range c.Runs {
		flats[i] = r.Flat()
	}
	for _, k := range c.Keys {
		row := []cell{txt(k)}
		for i := range c.Runs {
			row = append(row, txt(value(flats[i], k)))
		}
		rows = append(rows, row)
	}
	return head, rows
}

func fmtInt(v float64) string {
	if v != v {
		return "–"
	}
	return fmt.Sprintf("%d", int(v))
}

func fmtFixed1(v float64) string {
	if v != v || v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

func cellTexts(rows [][]cell) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, c := range r {
			out[i][j] = c.text
		}
	}
	return out
}

// classNote says which classes were left out of the per-class comparison.
func (c *Comparison) classNote() []string {
	if len(c.Only) == 0 {
		return nil
	}
	out := []string{fmt.Sprintf("The runs have different class sets: per-class AP is compared on the %d classes they all have; the mAP in the AP chart is the mean over those.", len(c.Common))}
	for _, l := range c.Labels {
		if only := c.Only[l]; len(only) > 0 {
			out = append(out, fmt.Sprintf("Not in every run, from %s (%d): %s", l, len(only), capList(only, 40)))
		}
	}
	return out
}

func (c *Comparison) html(opts CompareOptions, charts map[string]drawn) string {
	var p page
	p.start(opts.Title)
	p.raw("<h1>%s</h1>\n", esc(opts.Title))
	p.para("sub", "Written by runner compare from the run folders' files. Click a table heading to sort.")
	head, numeric, rows := c.runRows()
	p.table(head, numeric, rows, true, false)
	for _, n := range c.Notes {
		p.raw("<div class=\"note\">%s</div>\n", esc(n))
	}
	p.h2("keys", "Experiment keys that differ")
	if len(c.Keys) == 0 {
		p.para("muted", "None: the runs have the same resolved experiment.")
	} else {
		kh, kr := c.keyRows()
		p.table(kh, nil, kr, true, len(kr) > 25)
	}
	p.h2("ap", "Average precision per class")
	for _, n := range c.classNote() {
		p.para("", n)
	}
	if d, ok := charts["ap"]; ok {
		p.figure(d)
	}
	if d, ok := charts["map"]; ok {
		p.h2("map", "mAP over epochs")
		p.figure(d)
	}
	if d, ok := charts["loss"]; ok {
		p.h2("loss", "Losses")
		p.figure(d)
	}
	if d, ok := charts["lr"]; ok {
		p.h2("lr", "Learning rate")
		p.figure(d)
	}
	return p.end()
}

func (c *Comparison) markdown(opts CompareOptions, charts map[string]drawn) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", opts.Title)
	head, numeric, rows := c.runRows()
	mdTable(&b, head, numeric, cellTexts(rows))
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "> Note: %s\n\n", n)
	}
	b.WriteString("## Experiment keys that differ\n\n")
	if len(c.Keys) == 0 {
		b.WriteString("None: the runs have the same resolved experiment.\n\n")
	} else {
		kh, kr := c.keyRows()
		mdTable(&b, kh, nil, cellTexts(kr))
	}
	image := func(name string) {
		if d, ok := charts[name]; ok {
			fmt.Fprintf(&b, "![%s](%s)\n\n", d.title, d.png)
		}
	}
	b.WriteString("## Average precision per class\n\n")
	for _, n := range c.classNote() {
		b.WriteString(n + "\n\n")
	}
	image("ap")
	b.WriteString("## mAP, losses and learning rate\n\n")
	image("map")
	image("loss")
	image("lr")
	return b.String()
}
