package report

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var allCharts = []string{"ap_latest", "ap_best", "pr_latest", "pr_grid", "loss", "map", "lr"}

// TestQuickstartReport writes the report of a recorded quickstart run (testdata/20261206-062743:
// the files of a `make run`, its precision–recall curves thinned to 150 points a class) and
// checks every file, the facts and the tables.
func TestQuickstartReport(t *testing.T) {
	dir := copyDir(t, "testdata/20261206-062743")
	res, err := Write(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) > 0 {
		t.Errorf("notes: %v", res.Notes)
	}
	if len(res.Charts) != 2*len(allCharts) {
		t.Errorf("charts %v, want %d", res.Charts, 2*len(allCharts))
	}
	checkCharts(t, dir, allCharts...)
	page := checkPage(t, res.HTML)
	for _, want := range []string{
		"quickstart/20261206-062743", "finished", "mobilenet_v1 ×0.5 · head ssd_lite", "shapes, 1,024 images",
		"200 images", "8 of 8", "8 min 47 s", "16.4 (training)", "0.057 (epoch 8, voc)", "epoch 8, by val_loss 5.921",
		"<td>circle</td><td class=\"n\" data-v=\"0.1237618749612318\">0.124</td>", // the AP table, sortable by value
		"<table class=\"sortable\">", "<details><summary>experiment.hcl</summary>", "per_step = true",
		`<figure id="chart-pr_grid"><svg viewBox=`, `href="charts/loss.png"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	md, err := os.ReadFile(res.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Run report: quickstart/20261206-062743 (finished)", "| Best mAP | 0.057 (epoch 8, voc) |",
		"| 1 | circle | 0.124 |", "![AP per class, latest validation (epoch 8)](charts/ap_latest.png)",
		"| 8 | 5.9215 | 1.6453 | 4.2761 | 0.057 | 200 | 7.0 |", "```hcl\n# The resolved experiment"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	checkFinite(t, "report.md", string(md))
	// A second report replaces the first, byte for byte the same.
	res2, err := Write(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if page2, _ := os.ReadFile(res2.HTML); string(page2) != page {
		t.Errorf("a second report differs from the first")
	}
}

// TestReportEdgeCases writes reports of the runs the issue names: one class, 80 classes,
// Open Images' 601, a run with no validation yet, a run stopped by the NaN guard, and every
// AP 0; each chart must draw, the page be well-formed, and no NaN reach any axis.
func TestReportEdgeCases(t *testing.T) {
	zero := func(int, int) float64 { return 0 }
	cases := []struct {
		name   string
		run    fakeRun
		charts []string
		want   []string // in report.html
	}{
		{"one class", fakeRun{name: "one", classes: []string{"only"}, epochs: 2, validateEvery: 1, curves: true, status: "finished", plan: true},
			allCharts, []string{"1,234,567 (1,200,000 trainable)", "2 (with background)", "<td>only</td>"}},
		{"80 classes", fakeRun{name: "coco", classes: classNames(80), epochs: 3, validateEvery: 1, curves: true, status: "finished"},
			allCharts, []string{"<td>class 79</td>", `class="scroll"`}},
		{"601 classes", fakeRun{name: "oi", classes: classNames(601), epochs: 1, validateEvery: 1, curves: true, status: "finished",
			ap: func(_, c int) float64 { return float64(c%101) / 100 }},
			allCharts, []string{"<td>class 600</td>"}},
		{"no validation yet", fakeRun{name: "early", classes: classNames(8), epochs: 1, planned: 10, validateEvery: 2},
			[]string{"loss", "lr"}, []string{"in progress", "No validation yet", "1 of 10", "no validation yet"}},
		{"nothing trained yet", fakeRun{name: "fresh", planned: 10},
			nil, []string{"in progress", "No epoch finished yet", "0 of 10"}},
		{"NaN guard", fakeRun{name: "nan", classes: classNames(3), epochs: 2, planned: 6, validateEvery: 2, curves: true, status: "failed",
			err: "epoch 3, step 2: non-finite loss or gradient (images 000017, 000018); the last good checkpoint is in runs/nan/checkpoints; lower the learning rate"},
			allCharts, []string{"failed: epoch 3, step 2: non-finite loss", `<div class="err">`, "2 of 6"}},
		{"all AP 0", fakeRun{name: "zero", classes: classNames(5), epochs: 4, validateEvery: 2, curves: true, status: "finished", ap: zero},
			allCharts, []string{"0.000 (epoch 2, voc)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := c.run.write(t, filepath.Join(t.TempDir(), "run"))
			res, err := Write(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Notes) > 0 && c.name != "nothing trained yet" {
				t.Errorf("notes: %v", res.Notes)
			}
			sizes := checkCharts(t, dir, c.charts...)
			if len(res.Charts) != 2*len(c.charts) {
				t.Errorf("%d chart files %v, want %d", len(res.Charts), res.Charts, 2*len(c.charts))
			}
			page := checkPage(t, res.HTML)
			for _, w := range c.want {
				if !strings.Contains(page, w) {
					t.Errorf("report.html lacks %q", w)
				}
			}
			md, _ := os.ReadFile(res.Markdown)
			checkFinite(t, "report.md", string(md))
			switch c.name {
			case "80 classes":
				// one 22-px row a class: readable, and no wider than a laptop screen
				if s := sizes["ap_latest"]; s[1] < 80*22 || s[0] > 1000 {
					t.Errorf("80-class AP chart is %dx%d", s[0], s[1])
				}
				if s := sizes["pr_grid"]; s[0] > 1300 {
					t.Errorf("80-class PR grid is %d px wide", s[0])
				}
			case "601 classes":
				// ranked in columns: far shorter than a 601-row list, each row still 18 px
				if s := sizes["ap_latest"]; s[1] > 2200 || s[1] < 86*18 {
					t.Errorf("601-class AP chart is %dx%d", s[0], s[1])
				}
			}
		})
	}
}

// TestBadRunFolders checks the errors on broken run folders: each names the file and the
// place, and a last line cut short by a crash is left out with a note instead.
func TestBadRunFolders(t *testing.T) {
	good := fakeRun{name: "x", classes: classNames(2), epochs: 2, validateEvery: 1, curves: true, status: "finished"}
	cases := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string // in the error; "" means the report is written
		note   string // in the notes
	}{
		{"line cut short", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "metrics.jsonl"), `{"kind":"step","epoch":3,"st`)
		},
			"", "metrics.jsonl:13: the last line is incomplete"},
		{"bad line inside", func(t *testing.T, dir string) {
			prependFile(t, filepath.Join(dir, "metrics.jsonl"), "{\"kind\":\"epoch\",\"epoch\":\"one\"}\n")
		},
			"metrics.jsonl:1: line 1, column 30: json: cannot unmarshal string", ""},
		{"garbage line inside", func(t *testing.T, dir string) { prependFile(t, filepath.Join(dir, "metrics.jsonl"), "not json\n") },
			"metrics.jsonl:1: line 1, column 3: invalid character", ""},
		{"bad summary", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "summary.json"), "{\n  \"status\": finished\n}")
		},
			"summary.json: line 2, column 15: invalid character 'i'", ""},
		{"bad evals", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "evals", "epoch-0002.json"), `{"classes":[1]}`)
		},
			"epoch-0002.json: line 1, column 14: json: cannot unmarshal number", ""},
		{"metrics is a folder", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "metrics.jsonl"))
			os.Mkdir(filepath.Join(dir, "metrics.jsonl"), 0o755)
		}, "metrics.jsonl", ""},
		{"metrics is a FIFO", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "metrics.jsonl"))
			if err := syscall.Mkfifo(filepath.Join(dir, "metrics.jsonl"), 0o644); err != nil {
				t.Skip(err)
			}
		}, "metrics.jsonl", ""},
		{"not a run folder", func(t *testing.T, dir string) {
			for _, f := range []string{"metrics.jsonl", "summary.json", "experiment.json"} {
				os.Remove(filepath.Join(dir, f))
			}
		}, "not a run folder: it has no metrics.jsonl, summary.json or experiment.json", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := good.write(t, filepath.Join(t.TempDir(), "run"))
			c.break_(t, dir)
			res, err := Write(context.Background(), dir)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("err = %v, want it to say %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(res.Notes, "\n"), c.note) {
				t.Errorf("notes %v, want %q", res.Notes, c.note)
			}
			if page := checkPage(t, res.HTML); !strings.Contains(page, "the last line is incomplete") {
				t.Errorf("report.html does not show the note")
			}
		})
	}
}

// TestWriteCancelled checks that a cancelled context stops the report between charts.
func TestWriteCancelled(t *testing.T) {
	dir := fakeRun{name: "x", classes: classNames(2), epochs: 1, validateEvery: 1, status: "finished"}.write(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Write(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestResumedRunInProgress checks that a summary.json left by an earlier session (a run
// interrupted, then resumed) does not make the resumed run look interrupted.
func TestResumedRunInProgress(t *testing.T) {
	dir := fakeRun{name: "x", classes: classNames(2), epochs: 3, planned: 6, validateEvery: 1, status: "interrupted",
		err: "interrupted"}.write(t, t.TempDir())
	writeJSONFile(t, filepath.Join(dir, "summary.json"), map[string]any{"status": "interrupted", "error": "interrupted at epoch 2", "epochs_done": 1})
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status() != "in progress" || r.Error() != "" {
		t.Errorf("status %q, error %q; want in progress and none", r.Status(), r.Error())
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func prependFile(t *testing.T, path, text string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, text+string(data))
}

// TestReportConfusionChart gives the recorded quickstart run's last evals file a confusion
// matrix (as runner apply now writes it) and checks that the report draws it as
// charts/confusion_latest with the run's classes, the epoch and the counts, and shows it
// on the page; a matrix that cannot be charted is a note, not a failed report.
func TestReportConfusionChart(t *testing.T) {
	dir := copyDir(t, "testdata/20261206-062743")
	path := filepath.Join(dir, "evals", "epoch-0008.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	classes := []string{"BACKGROUND", "circle", "ellipse", "square", "triangle", "hexagon", "star", "cross", "ring"}
	counts := make([][]int, len(classes))
	for i := range counts {
		counts[i] = make([]int, len(classes))
		for j := range counts[i] {
			if i+j > 0 {
				counts[i][j] = 3*i + j
			}
		}
	}
	counts[5][5] = 4321 // a count to find in the chart
	ev["confusion"] = map[string]any{"classes": classes, "score_threshold": 0.25, "iou_threshold": 0.5, "counts": counts}
	writeJSONFile(t, path, ev)
	res, err := Write(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) > 0 {
		t.Errorf("notes: %v", res.Notes)
	}
	checkCharts(t, dir, append(allCharts, "confusion_latest")...)
	svg, err := os.ReadFile(filepath.Join(dir, "charts", "confusion_latest.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"quickstart/20261206-062743", "epoch 8", "hexagon", "missed", "4321"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("confusion_latest.svg lacks %q", want)
		}
	}
	if page := checkPage(t, res.HTML); !strings.Contains(page, `<figure id="chart-confusion_latest"><svg`) {
		t.Errorf("report.html does not show the confusion matrix")
	}
	if md, err := os.ReadFile(res.Markdown); err != nil || !strings.Contains(string(md), "](charts/confusion_latest.png)") {
		t.Errorf("report.md does not show the confusion matrix (%v)", err)
	}

	// A matrix whose rows do not match its classes: the other charts are drawn and the
	// report says why this one is not.
	counts[2] = counts[2][:3]
	writeJSONFile(t, path, ev)
	res, err = Write(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "confusion") {
		t.Errorf("notes %q, want one about the confusion chart", res.Notes)
	}
	checkCharts(t, dir, allCharts...)
}
