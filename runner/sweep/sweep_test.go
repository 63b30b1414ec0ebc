package sweep

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/runner/config"
)

func TestGridOrderAndValues(t *testing.T) {
	s := &config.Sweep{Method: "grid", Params: []config.SweepParam{
		{Key: "optimizer.lr", Dist: config.DistLogUniform, Low: 1e-4, High: 1e-1, Points: 4},
		{Key: "data.batch_size", Dist: config.DistValues, Values: []string{"8", "16"}},
		{Key: "scheduler.t_max", Dist: config.DistIntRange, Low: 2, High: 7, Step: 2},
	}}
	trials, err := Trials(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != 4*2*3 {
		t.Fatalf("%d trials, want 24", len(trials))
	}
	// the last param varies fastest
	want0 := []string{"optimizer.lr=0.0001", "data.batch_size=8", "scheduler.t_max=2"}
	want1 := []string{"optimizer.lr=0.0001", "data.batch_size=8", "scheduler.t_max=4"}
	want23 := []string{"optimizer.lr=0.1", "data.batch_size=16", "scheduler.t_max=6"}
	for i, want := range map[int][]string{0: want0, 1: want1, 23: want23} {
		if got := trials[i].Sets(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("trial %d: %v, want %v", i, got, want)
		}
	}
	// log-spaced points are exact decades, written without rounding noise
	var lrs []string
	for i := 0; i < 24; i += 6 {
		lrs = append(lrs, trials[i].Values["optimizer.lr"])
	}
	if strings.Join(lrs, ",") != "0.0001,0.001,0.01,0.1" {
		t.Errorf("log grid %v", lrs)
	}
	if trials[5].ID != "trial-005" || trials[5].Index != 5 {
		t.Errorf("trial 5 is %+v", trials[5])
	}
	// a budget below the grid's size is refused
	s.Trials = 10
	if _, err := Trials(s); err == nil || !strings.Contains(err.Error(), "24 trials but sweep.trials = 10") {
		t.Errorf("grid over budget: %v", err)
	}
}

func TestRandomDrawsAreSeededAndInRange(t *testing.T) {
	mk := func(seed int64, n int, params ...config.SweepParam) []Trial {
		tr, err := Trials(&config.Sweep{Method: "random", Trials: n, Seed: seed, Params: params})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	lr := config.SweepParam{Key: "optimizer.lr", Dist: config.DistLogUniform, Low: 1e-4, High: 1e-1}
	bs := config.SweepParam{Key: "data.batch_size", Dist: config.DistIntRange, Low: 8, High: 64, Step: 8}
	mom := config.SweepParam{Key: "optimizer.momentum", Dist: config.DistUniform, Low: 0.8, High: 0.99}
	act := config.SweepParam{Key: "model.backbone.activation", Dist: config.DistValues, Values: []string{`"relu"`, `"relu6"`}}
	a := mk(7, 200, lr, bs, mom, act)
	b := mk(7, 200, lr, bs, mom, act)
	decades := map[int]int{}
	for i := range a {
		if strings.Join(a[i].Sets(), " ") != strings.Join(b[i].Sets(), " ") {
			t.Fatalf("trial %d differs between two expansions of one seed", i)
		}
		v, _ := strconv.ParseFloat(a[i].Values["optimizer.lr"], 64)
		if v < 1e-4 || v >= 1e-1 {
			t.Errorf("lr %g outside [1e-4, 1e-1)", v)
		}
		decades[int(math.Floor(math.Log10(v)))]++
		n, err := strconv.Atoi(a[i].Values["data.batch_size"])
		if err != nil || n < 8 || n > 64 || n%8 != 0 {
			t.Errorf("batch size %q not in 8, 16, … 64", a[i].Values["data.batch_size"])
		}
		m, _ := strconv.ParseFloat(a[i].Values["optimizer.momentum"], 64)
		if m < 0.8 || m >= 0.99 {
			t.Errorf("momentum %g outside [0.8, 0.99)", m)
		}
		if act := a[i].Values["model.backbone.activation"]; act != `"relu"` && act != `"relu6"` {
			t.Errorf("activation %s", act)
		}
	}
	// log-uniform: each of the three decades gets a fair share (expected 67 of 200; a
	// share below 40 has a probability far under 1e-6)
	for d := -4; d <= -2; d++ {
		if decades[d] < 40 {
			t.Errorf("decade 1e%d drawn %d times of 200: not log-uniform (%v)", d, decades[d], decades)
		}
	}
	// another seed draws other values; adding a param leaves the others' values as they were
	if c := mk(8, 200, lr, bs, mom, act); c[0].Values["optimizer.lr"] == a[0].Values["optimizer.lr"] {
		t.Error("seeds 7 and 8 drew the same first lr")
	}
	d := mk(7, 200, lr, bs, mom, act, config.SweepParam{Key: "training.epochs", Dist: config.DistIntRange, Low: 1, High: 3, Step: 1})
	if d[3].Values["optimizer.lr"] != a[3].Values["optimizer.lr"] {
		t.Error("adding a param changed another param's draws")
	}
}

// writeTrial makes a trial folder as a trial's run leaves it: trial.json, metrics.jsonl
// validation lines (mAP per epoch, loss 1/mAP), evals files and summary.json.
func writeTrial(t *testing.T, dir, id string, index int, status string, maps []float64) {
	t.Helper()
	tdir := filepath.Join(dir, id)
	if err := os.MkdirAll(filepath.Join(tdir, "evals"), 0o755); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for e, m := range maps {
		lines = append(lines, `{"kind":"epoch","epoch":`+strconv.Itoa(e+1)+`,"loss":3}`)
		ap := fmt.Sprintf(`{"circle":%g,"square":%g}`, m*1.5, m*0.5)
		lines = append(lines, fmt.Sprintf(`{"kind":"validation","epoch":%d,"loss":%g,"map":%g,"ap":%s}`, e+1, 1/(m+0.01), m, ap))
		ev := fmt.Sprintf(`{"epoch":%d,"map":%g,"classes":[{"class":"circle","ap":%g},{"class":"square","ap":%g}]}`, e+1, m, math.Min(1, m*1.5), m*0.5)
		if err := os.WriteFile(filepath.Join(tdir, "evals", fmt.Sprintf("epoch-%04d.json", e+1)), []byte(ev), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lines = append(lines, `{"kind":"validation","epoch":`) // a line being written
	if err := os.WriteFile(filepath.Join(tdir, "metrics.jsonl"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	st := State{ID: id, Index: index, Status: status, Values: map[string]string{"optimizer.lr": fmt.Sprint(0.001 * float64(index+1))}}
	if status == StatusStopped {
		st.Stop = &Decision{Epoch: len(maps), Rule: "median", Stop: true, Reason: "below the median"}
	}
	if err := st.write(tdir); err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf(`{"status":%q,"epochs_done":%d,"wall_seconds":12.5}`, status, len(maps))
	if err := os.WriteFile(filepath.Join(tdir, "summary.json"), []byte(sum), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMetricAt(t *testing.T) {
	pts := []point{{Epoch: 1, MAP: 0.2, Loss: 5}, {Epoch: 2, MAP: 0.1, Loss: 4}, {Epoch: 4, MAP: 0.15, Loss: 6}}
	cases := []struct {
		m     Metric
		epoch int
		want  float64
		ok    bool
	}{
		{"best_map", 2, 0.2, true}, {"last_map", 2, 0.1, true}, {"best_val_loss", 4, 4, true},
		{"last_val_loss", 4, 6, true}, {"best_map", 3, 0, false},
	}
	for _, c := range cases {
		v, ok := c.m.At(pts, c.epoch)
		if ok != c.ok || ok && v != c.want {
			t.Errorf("%s at %d = %v %v, want %v %v", c.m, c.epoch, v, ok, c.want, c.ok)
		}
	}
	if v, ep, ok := Metric("best_map").Final(pts); !ok || v != 0.2 || ep != 1 {
		t.Errorf("best_map final %v at %d", v, ep)
	}
	if v, ep, ok := Metric("last_map").Final(pts); !ok || v != 0.15 || ep != 4 {
		t.Errorf("last_map final %v at %d", v, ep)
	}
}

func TestMedianRule(t *testing.T) {
	dir := t.TempDir()
	writeTrial(t, dir, "trial-000", 0, StatusFinished, []float64{0.30, 0.40})
	writeTrial(t, dir, "trial-001", 1, StatusFinished, []float64{0.10, 0.20})
	writeTrial(t, dir, "trial-002", 2, StatusFinished, []float64{0.20, 0.25})
	es := &config.EarlyStopping{Rule: "median", GraceEpochs: 1, MinTrials: 3}
	sp := &stopper{es: es, metric: "best_map", dir: dir, self: "trial-003", epochs: 4}
	// the median of the others at epoch 1 is 0.20
	if d := sp.judge(1, []point{{Epoch: 1, MAP: 0.15}}); d == nil || !d.Stop || !strings.Contains(d.Reason, "worse than the median 0.2 of 3 other trials") {
		t.Errorf("0.15 at epoch 1: %+v", d)
	}
	if d := sp.judge(1, []point{{Epoch: 1, MAP: 0.20}}); d == nil || d.Stop {
		t.Errorf("0.20 at epoch 1 (the median): %+v", d)
	}
	// best so far: 0.3 at epoch 1 carries to epoch 2, against the median 0.25
	if d := sp.judge(2, []point{{Epoch: 1, MAP: 0.3}, {Epoch: 2, MAP: 0.01}}); d == nil || d.Stop {
		t.Errorf("best so far 0.3 at epoch 2: %+v", d)
	}
	// nobody else reached epoch 3: no judgement possible, and it says so
	if d := sp.judge(3, []point{{Epoch: 3, MAP: 0}}); d == nil || d.Stop || !strings.Contains(d.Reason, "0 other trial(s) reached epoch 3, 3 needed") {
		t.Errorf("epoch 3: %+v", d)
	}
	// grace: no judgement before grace_epochs
	es.GraceEpochs = 2
	if d := sp.judge(1, []point{{Epoch: 1, MAP: 0}}); d != nil {
		t.Errorf("judged within the grace epochs: %+v", d)
	}
	// validation loss: lower is better
	sp.metric = "last_val_loss"
	es.GraceEpochs = 1
	if d := sp.judge(1, []point{{Epoch: 1, Loss: 100}}); d == nil || !d.Stop {
		t.Errorf("loss 100 against losses near 3-9: %+v", d)
	}
}

func TestSuccessiveHalving(t *testing.T) {
	dir := t.TempDir()
	for i, m := range []float64{0.1, 0.2, 0.3, 0.4, 0.5} {
		writeTrial(t, dir, TrialID(i), i, StatusFinished, []float64{m, m, m, m})
	}
	es := &config.EarlyStopping{Rule: "successive_halving", MinEpochs: 1, ReductionFactor: 3, MinTrials: 2}
	if got := fmt.Sprint(Rungs(es, 10)); got != "[1 3 9]" {
		t.Errorf("rungs %s", got)
	}
	sp := &stopper{es: es, metric: "best_map", dir: dir, self: "trial-009", epochs: 10}
	// 6 trials at the rung: the best 2 continue
	if d := sp.judge(1, []point{{Epoch: 1, MAP: 0.45}}); d == nil || d.Stop {
		t.Errorf("second best of 6: %+v", d)
	}
	if d := sp.judge(1, []point{{Epoch: 1, MAP: 0.35}}); d == nil || !d.Stop || !strings.Contains(d.Reason, "ranks 3 of the 6") {
		t.Errorf("third of 6: %+v", d)
	}
	if d := sp.judge(2, []point{{Epoch: 2, MAP: 0}}); d != nil {
		t.Errorf("judged at epoch 2, not a rung: %+v", d)
	}
}

func TestReportFromFolder(t *testing.T) {
	dir := t.TempDir()
	rec := &Record{Version: recordVersion, Name: "lr", Experiment: "tiny", File: "tiny.hcl", Method: "grid", Metric: "best_map",
		Params:   []ParamRecord{{Key: "optimizer.lr", Dist: config.DistLogUniform, Low: 0.001, High: 0.1, Log: true}},
		Stopping: &config.EarlyStopping{Rule: "median", GraceEpochs: 1, MinTrials: 2}}
	for i := 0; i < 5; i++ {
		rec.Trials = append(rec.Trials, TrialRecord{ID: TrialID(i), Values: map[string]string{"optimizer.lr": fmt.Sprint(0.001 * float64(i+1))}})
	}
	js, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(dir, RecordFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
	writeTrial(t, dir, "trial-000", 0, StatusFinished, []float64{0.1, 0.3})
	writeTrial(t, dir, "trial-001", 1, StatusFinished, []float64{0.2, 0.5})
	writeTrial(t, dir, "trial-002", 2, StatusStopped, []float64{0.05})
	writeTrial(t, dir, "trial-003", 3, StatusFailed, nil) // diverged before its first validation
	// trial-004 never started
	r, err := WriteReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, row := range r.Rows {
		order = append(order, fmt.Sprintf("%d:%s:%s", row.Rank, row.ID, row.Status))
	}
	if got := strings.Join(order, " "); got != "1:trial-001:finished 2:trial-000:finished 3:trial-002:stopped 0:trial-003:failed 0:trial-004:pending" {
		t.Errorf("ranking %s", got)
	}
	for _, f := range []string{"report.html", "report.md", "ranking.csv", "charts/metric_vs_optimizer.lr.png", "charts/metric_vs_optimizer.lr.svg",
		"charts/best_so_far.png", "charts/top_trials_ap.svg", "compare-top/compare.html", "compare-top/compare.md", "compare-top/charts/map.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"**Best: trial-001**, best mAP 0.5000 (epoch 2)", "| 3 | trial-002 | 0.003 | stopped |", "below the median",
		"## Comparison of the top trials", "[compare-top/compare.md](compare-top/compare.md)", "runner compare " + filepath.Join(dir, "trial-001") + " " + filepath.Join(dir, "trial-000")} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	// the HTML is well-formed XML apart from its doctype, self-contained and offline
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	body := strings.TrimPrefix(string(page), "<!DOCTYPE html>\n")
	dec := xml.NewDecoder(strings.NewReader(body))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("report.html is not well-formed: %v", err)
		}
	}
	for _, bad := range []string{"src=\"http", "href=\"http", "<script", "<img", "@import", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("report.html has %q: it must open offline with everything inline", bad)
		}
	}
	if n := strings.Count(body, "<svg"); n != 3 {
		t.Errorf("report.html inlines %d charts, want 3", n)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"runs/x": "runs/x", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "lr=0.1": "lr=0.1", `"relu"`: `'"relu"'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBrokenSweepFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteReport(dir); err == nil || !strings.Contains(err.Error(), "is not a sweep folder (it has no sweep.json)") {
		t.Errorf("empty folder: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RecordFile), []byte(`{"version": 1, "trials": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteReport(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, RecordFile)) {
		t.Errorf("truncated sweep.json: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RecordFile), []byte(`{"version": 1, "metric": "best_map", "trials": [{"id": "trial-000"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "trial-000"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trial-000", StateFile), []byte("\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteReport(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "trial-000", StateFile)) {
		t.Errorf("corrupt trial.json: %v", err)
	}
	os.Remove(filepath.Join(dir, "trial-000", StateFile))
	r, err := WriteReport(dir) // a sweep with no result yet still gets its report
	if err != nil || r.Best() != nil || len(r.Rows) != 1 || r.Rows[0].Status != StatusPending {
		t.Errorf("sweep without results: %v %+v", err, r)
	}
}

func TestTrialSpec(t *testing.T) {
	p := &Plan{}
	for i := 0; i < 12; i++ {
		p.Trials = append(p.Trials, Trial{Index: i, ID: TrialID(i)})
	}
	for spec, want := range map[string]int{"0": 0, "11": 11, "trial-003": 3, "007": 7} {
		if got, err := p.Trial(spec); err != nil || got != want {
			t.Errorf("Trial(%q) = %d, %v; want %d", spec, got, err, want)
		}
	}
	for _, bad := range []string{"12", "-1", "trial-12", "", "x"} {
		if _, err := p.Trial(bad); err == nil || !strings.Contains(err.Error(), "trials 0 to 11 (trial-000 to trial-011)") {
			t.Errorf("Trial(%q): %v", bad, err)
		}
	}
}
