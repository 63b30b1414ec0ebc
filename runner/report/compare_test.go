package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCompare compares three runs: two with the same classes and other learning rates, one
// with a different class set, one of them without a validation yet. The comparison must
// chart the common classes, list the others, and table the keys that differ with each run's
// best and last mAP.
func TestCompare(t *testing.T) {
	root := t.TempDir()
	voc := classNames(6)
	a := fakeRun{name: "sweep", classes: voc, epochs: 4, validateEvery: 2, lr: 0.01, curves: true, status: "finished"}.
		write(t, filepath.Join(root, "sweep", "lr0.01"))
	b := fakeRun{name: "sweep", classes: voc, epochs: 4, validateEvery: 2, lr: 0.001, curves: true, status: "finished",
		ap: func(e, c int) float64 { return 0.02 * float64(e+c) }}.write(t, filepath.Join(root, "sweep", "lr0.001"))
	other := append(append([]string{}, voc[2:]...), "giraffe", "zebra")
	c := fakeRun{name: "other", classes: other, epochs: 2, validateEvery: 2, status: "interrupted", groups: []string{"base_net", "heads"}}.
		write(t, filepath.Join(root, "other", "r1"))
	early := fakeRun{name: "sweep", classes: voc, epochs: 1, planned: 4, validateEvery: 2}.write(t, filepath.Join(root, "sweep", "early"))

	dirs, err := ExpandRunDirs([]string{filepath.Join(root, "sweep"), c})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{early, b, a, c}; !reflect.DeepEqual(dirs, want) {
		t.Fatalf("ExpandRunDirs = %v, want %v", dirs, want)
	}
	out := filepath.Join(root, "cmp")
	cmp, err := Compare(context.Background(), dirs, out, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"early", "lr0.001", "lr0.01", "r1"}; !reflect.DeepEqual(cmp.Labels, want) {
		t.Errorf("labels %v, want %v", cmp.Labels, want)
	}
	if want := voc[2:]; !reflect.DeepEqual(cmp.Common, want) {
		t.Errorf("common classes %v, want %v", cmp.Common, want)
	}
	if got := cmp.Only["r1"]; !reflect.DeepEqual(got, []string{"giraffe", "zebra"}) {
		t.Errorf("classes only in r1: %v", got)
	}
	if got := cmp.Only["lr0.01"]; !reflect.DeepEqual(got, voc[:2]) {
		t.Errorf("classes only in lr0.01: %v", got)
	}
	for _, k := range []string{"name", "optimizer.lr", "training.epochs"} {
		if !contains(cmp.Keys, k) {
			t.Errorf("differing keys %v lack %s", cmp.Keys, k)
		}
	}
	if contains(cmp.Keys, "optimizer.weight_decay") {
		t.Errorf("differing keys %v hold a key all runs share", cmp.Keys)
	}
	checkCharts(t, out, "ap", "map", "loss", "lr")
	page := checkPage(t, cmp.HTML)
	for _, want := range []string{
		"Comparison of 4 runs", "<td>optimizer.lr</td><td>0.003</td><td>0.001</td><td>0.01</td><td>0.003</td>",
		"no validation yet, left out of the per-class AP chart: early",
		"Not in every run, from r1 (2): giraffe, zebra", "interrupted",
		`<td>finished</td><td class="n" data-v="4">4</td><td class="n" data-v="0.225">0.225</td><td class="n" data-v="4">4</td>`, // lr0.01's epochs, best mAP and its epoch
	} {
		if !strings.Contains(page, want) {
			t.Errorf("compare.html lacks %q", want)
		}
	}
	md, err := os.ReadFile(cmp.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| optimizer.lr | 0.003 | 0.001 | 0.01 | 0.003 |", "![mAP over epochs](charts/map.png)"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("compare.md lacks %q", want)
		}
	}
	checkFinite(t, "compare.md", string(md))

	// The latest validation instead of the best, on the two finished runs.
	if _, err := Compare(context.Background(), []string{a, b}, filepath.Join(root, "cmp2"), CompareOptions{Which: "latest", Labels: []string{"A", "B"}}); err != nil {
		t.Fatal(err)
	}
	page2 := checkPage(t, filepath.Join(root, "cmp2", "compare.html"))
	if !strings.Contains(page2, "AP per class, latest validation of each run") || strings.Contains(page2, "different class sets") {
		t.Errorf("compare.html of two runs of the same classes:\n%s", page2[:min(len(page2), 3000)])
	}
}

func TestCompareErrors(t *testing.T) {
	root := t.TempDir()
	run := fakeRun{name: "x", classes: classNames(2), epochs: 1, validateEvery: 1, status: "finished"}.write(t, filepath.Join(root, "r"))
	var many []string
	for i := 0; i <= MaxCompare; i++ {
		many = append(many, run)
	}
	empty := filepath.Join(root, "empty")
	os.MkdirAll(filepath.Join(empty, "a", "b"), 0o755)
	file := filepath.Join(root, "r", "metrics.jsonl")
	cases := []struct {
		dirs []string
		opts CompareOptions
		want string
	}{
		{nil, CompareOptions{}, "no run folders"},
		{many, CompareOptions{}, fmt.Sprintf("%d runs; at most %d", MaxCompare+1, MaxCompare)},
		{[]string{run}, CompareOptions{Which: "first"}, `"first": want best or latest`},
		{[]string{run, run}, CompareOptions{Labels: []string{"one"}}, "1 labels for 2 runs"},
		{[]string{empty}, CompareOptions{}, "not a run folder"},
	}
	for _, c := range cases {
		_, err := Compare(context.Background(), c.dirs, filepath.Join(root, "out"), c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compare(%v, %+v): err = %v, want %q", c.dirs, c.opts, err, c.want)
		}
	}
	for _, args := range [][]string{{empty}, {file}, {filepath.Join(root, "missing")}} {
		if _, err := ExpandRunDirs(args); err == nil {
			t.Errorf("ExpandRunDirs(%v) accepted", args)
		}
	}
}

func TestRunLabels(t *testing.T) {
	cases := []struct{ dirs, want []string }{
		{[]string{"/r/a/x", "/r/b/y"}, []string{"x", "y"}},
		{[]string{"/r/a/x", "/r/b/x"}, []string{"a/x", "b/x"}},
		{[]string{"/r/a/x", "/r/a/x"}, []string{"/r/a/x #1", "/r/a/x #2"}},
		{[]string{"/s/t1", "/s/t2", "/q/t1"}, []string{"s/t1", "s/t2", "q/t1"}},
	}
	for _, c := range cases {
		if got := runLabels(c.dirs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("runLabels(%v) = %v, want %v", c.dirs, got, c.want)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
