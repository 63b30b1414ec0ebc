package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch/ts"

	_ "github.com/ssdrunner/ssdrunner/components/all"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/eval"
)

// tinyExperiment is a small, fast experiment: MobileNetV1 x0.25 SSD-Lite on a few synthetic
// images, batch 4.
const tinyExperiment = `
name = "tiny"
model {
  backbone "mobilenet_v1" {
    width_mult = 0.25
    extras     = "ssd_lite"
  }
  head "ssd_lite" {}
  anchors "ssd_spec" {
    preset = "mobilenet"
  }
}
data {
  train "shapes" {
    count = 16
    seed  = 1
  }
  validation "shapes" {
    count = 8
    seed  = 2
  }
  batch_size = 4
  workers    = 2
}
optimizer "sgd" {
  lr           = 0.01
  momentum     = 0.9
  weight_decay = 0.0005
}
param_group "base_net" {
  modules = ["base_net"]
  lr      = 0.005
}
scheduler "cosine" {
  t_max    = 4
  per_step = true
}
training {
  epochs         = 2
  validate_every = 1
  log_every      = 1
  threads        = 1
}
`

// load writes an experiment file into dir and loads it with the --set overrides.
func load(t *testing.T, dir, text string, sets ...string) *config.Result {
	t.Helper()
	path := filepath.Join(dir, "exp.hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sets = append([]string{"output.dir=" + filepath.Join(dir, "runs")}, sets...)
	res, diags := config.Load(path, config.Options{Set: sets})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return res
}

// apply builds and trains res.
func apply(t *testing.T, ctx context.Context, res *config.Result, opts Options) (*Summary, error) {
	t.Helper()
	torch.SetThreads(1)
	run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	opts.Log = zerolog.Nop()
	return Apply(ctx, res, run, opts)
}

type stepLine struct {
	Kind           string             `json:"kind"`
	Epoch          int                `json:"epoch"`
	Step           int                `json:"step"`
	GlobalStep     int                `json:"global_step"`
	LR             map[string]float64 `json:"lr"`
	Loss           float64            `json:"loss"`
	Regression     float64            `json:"regression"`
	Classification float64            `json:"classification"`
}

func readSteps(t *testing.T, dir string) []stepLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stepLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l stepLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("metrics.jsonl line %q: %v", sc.Text(), err)
		}
		if l.Kind == "step" {
			out = append(out, l)
		}
	}
	return out
}

// TestApplyRunFolder trains the tiny experiment and checks every file of its run folder:
// the resolved experiment loads back to the same experiment, the metrics files have one
// record per step, epoch and validation, every chart is a valid PNG or SVG, and the
// checkpoints load.
func TestApplyRunFolder(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment)
	sum, err := apply(t, context.Background(), res, Options{RunName: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "runs", "tiny", "r1")
	if sum.RunDir != run || sum.Status != "finished" || sum.EpochsDone != 2 || sum.Steps != 8 {
		t.Errorf("summary = %+v", sum)
	}
	if sum.Last == nil || len(sum.Last.PerClass) == 0 || math.IsNaN(sum.Last.MAP) {
		t.Errorf("last validation = %+v", sum.Last)
	}
	for _, f := range []string{"experiment.hcl", "experiment.json", "metrics.jsonl", "results.csv", "log.jsonl", "summary.json",
		"checkpoints/last.pt", "checkpoints/best.pt", "checkpoints/epoch-0001.pt", "checkpoints/epoch-0002.pt",
		"evals/epoch-0001.json", "evals/epoch-0002.json", "charts/train_batch0.jpg"} {
		if st, err := os.Stat(filepath.Join(run, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	// each validation's file holds its confusion matrix: every validation object counted
	// once in the rows of the object classes, as its per-class summary says
	var ev struct {
		Confusion eval.Confusion      `json:"confusion"`
		PerClass  []eval.ClassSummary `json:"confusion_per_class"`
	}
	if js, err := os.ReadFile(filepath.Join(run, "evals", "epoch-0002.json")); err != nil || json.Unmarshal(js, &ev) != nil {
		t.Errorf("evals/epoch-0002.json: %v", err)
	}
	objects := 0
	for _, c := range ev.PerClass {
		objects += c.Objects
	}
	if n := len(ev.Confusion.Classes); n < 2 || len(ev.Confusion.Counts) != n || len(ev.PerClass) != n-1 || objects == 0 || ev.Confusion.Objects() != objects {
		t.Errorf("evals/epoch-0002.json confusion: %d classes, %d rows, %d summaries, %d objects, %d counted in the rows",
			n, len(ev.Confusion.Counts), len(ev.PerClass), objects, ev.Confusion.Objects())
	}
	for _, c := range []string{"ap_latest", "ap_best", "pr_latest", "pr_grid", "loss", "map", "lr", "confusion_latest"} {
		checkPNG(t, filepath.Join(run, "charts", c+".png"))
		checkSVG(t, filepath.Join(run, "charts", c+".svg"))
	}
	// the report (runner/report), rewritten at the end from the finished run's files
	page, _ := os.ReadFile(filepath.Join(run, "report.html"))
	for _, want := range []string{"finished", "Parameters", "2 of 2", `id="chart-pr_grid"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if st, err := os.Stat(filepath.Join(run, "report.md")); err != nil || st.Size() == 0 {
		t.Errorf("report.md: missing or empty (%v)", err)
	}
	if f, err := os.Open(filepath.Join(run, "charts", "train_batch0.jpg")); err == nil {
		if _, err := jpeg.Decode(f); err != nil {
			t.Errorf("train_batch0.jpg: %v", err)
		}
		f.Close()
	}
	steps := readSteps(t, run)
	if len(steps) != 8 {
		t.Errorf("%d step lines, want 8", len(steps))
	}
	// each group's lr is the cosine schedule's closed form at the step's progress
	// (t_max 4 epochs of 4 steps, per step): base·(1+cos(π·t/4))/2, t = epoch + step/4
	for _, l := range steps {
		progress := float64(l.Epoch-1) + float64(l.Step-1)/4
		for group, base := range map[string]float64{"default": 0.01, "base_net": 0.005} {
			want := base * (1 + math.Cos(math.Pi*progress/4)) / 2
			if got := l.LR[group]; math.Abs(got-want) > 1e-15*base {
				t.Errorf("epoch %d step %d: lr %s = %.17g, want %.17g", l.Epoch, l.Step, group, got, want)
			}
		}
	}
	csv, _ := os.ReadFile(filepath.Join(run, "results.csv"))
	if rows := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(rows) != 3 || !strings.HasPrefix(rows[0], "epoch,train_loss") {
		t.Errorf("results.csv:\n%s", csv)
	} else if cells := strings.Split(rows[2], ","); cells[7] == "" {
		t.Errorf("results.csv row 2 has no mAP: %s", rows[2])
	}
	// the resolved experiment, loaded back, is the same experiment
	back, diags := config.Load(filepath.Join(run, "experiment.hcl"), config.Options{})
	if diags.HasErrors() {
		t.Fatalf("experiment.hcl does not load: %s", diags.Error())
	}
	if d := config.Diff(res.Experiment.Resolved(), back.Experiment.Resolved()); len(d) > 0 {
		t.Errorf("experiment.hcl loads back with other values for %v", d)
	}
	ck, err := loadCheckpoint(filepath.Join(run, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if ck.Meta.Epoch != 2 || ck.Meta.Step != 0 || ck.Meta.GlobalStep != 8 || len(ck.Optim) == 0 || ck.RNG == nil {
		t.Errorf("last.pt: epoch %d step %d global %d, %d optimizer tensors", ck.Meta.Epoch, ck.Meta.Step, ck.Meta.GlobalStep, len(ck.Optim))
	}
	// what a resume compares: the checkpoint's record against the experiment.hcl loaded
	// back (its empty lists, e.g. ignore_keys = [], against the record's nulls)
	if d := WithoutSessionKeys(config.Diff(ck.Meta.Experiment, config.AsJSON(back.Experiment.Resolved()))); len(d) > 0 {
		t.Errorf("a resume from the run's own experiment.hcl would be refused over %v", d)
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("%s: not well-formed XML: %v", path, err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
}

// TestResumeEqualsUninterrupted stops a run (as Ctrl-C does) in the middle of its second
// epoch, and in the validation after its first, resumes it, and requires every step's
// losses and learning rates, the epoch and validation records and the final weights to
// equal those of the same run trained in one go, bit for bit: both run on this machine
// with one thread, so every op sees the same inputs in the same order.
func TestResumeEqualsUninterrupted(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment)
	if _, err := apply(t, context.Background(), res, Options{RunName: "full"}); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "runs", "tiny", "full")
	cases := []struct {
		name     string
		opts     func(cancel func()) Options
		epoch    int // the interrupt checkpoint's position
		step     int
		pending  bool
		errMatch string
	}{
		{"mid-epoch", func(cancel func()) Options {
			return Options{OnStep: func(epoch, step, global int) {
				if global == 6 {
					cancel()
				}
			}}
		}, 1, 2, false, "at epoch 2, step 2/4"},
		{"in-validation", func(cancel func()) Options {
			return Options{OnValidationBatch: func(epoch, batches int) {
				if epoch == 1 && batches == 1 {
					cancel()
				}
			}}
		}, 1, 0, true, "in the validation after epoch 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opts := c.opts(cancel)
			opts.RunName = c.name
			_, err := apply(t, ctx, res, opts)
			if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), c.errMatch) {
				t.Fatalf("interrupted run: err = %v, want %q and --resume", err, c.errMatch)
			}
			part := filepath.Join(dir, "runs", "tiny", c.name)
			ck, err := loadCheckpoint(filepath.Join(part, "checkpoints", "last.pt"))
			if err != nil {
				t.Fatalf("the interrupted run left no usable checkpoint: %v", err)
			}
			if ck.Meta.Epoch != c.epoch || ck.Meta.Step != c.step || ck.Meta.Reason != "interrupt" || ck.Meta.ValidationPending != c.pending {
				t.Errorf("interrupt checkpoint at epoch %d step %d (%s, validation pending %v), want epoch %d step %d, pending %v",
					ck.Meta.Epoch, ck.Meta.Step, ck.Meta.Reason, ck.Meta.ValidationPending, c.epoch, c.step, c.pending)
			}
			ck.Close()
			if _, err := apply(t, context.Background(), res, Options{Resume: part}); err != nil {
				t.Fatal(err)
			}
			sameRun(t, full, part)
		})
	}
}

// sameRun requires two run folders of the same experiment to hold the same steps, epoch
// and validation records (timings aside) and final weights, bit for bit.
func sameRun(t *testing.T, full, part string) {
	t.Helper()
	a, b := readSteps(t, full), readSteps(t, part)
	if len(a) != len(b) {
		t.Fatalf("%d steps uninterrupted, %d with the resume", len(a), len(b))
	}
	for i := range a {
		if a[i].Regression != b[i].Regression || a[i].Classification != b[i].Classification || a[i].LR["default"] != b[i].LR["default"] || a[i].LR["base_net"] != b[i].LR["base_net"] {
			t.Errorf("step %d: uninterrupted %+v, resumed %+v", i+1, a[i], b[i])
		}
	}
	ra, _ := os.ReadFile(filepath.Join(full, "results.csv"))
	rb, _ := os.ReadFile(filepath.Join(part, "results.csv"))
	if cut := func(b []byte) string { // drop the timing columns
		var out []string
		for _, row := range strings.Split(string(b), "\n") {
			c := strings.Split(row, ",")
			if len(c) > 8 {
				c = c[:8]
			}
			out = append(out, strings.Join(c, ","))
		}
		return strings.Join(out, "\n")
	}; cut(ra) != cut(rb) {
		t.Errorf("results.csv differ:\n%s\n---\n%s", ra, rb)
	}
	wa, err := loadCheckpoint(filepath.Join(full, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Close()
	wb, err := loadCheckpoint(filepath.Join(part, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if len(wa.Meta.History.Validations) != len(wb.Meta.History.Validations) {
		t.Fatalf("%d validations uninterrupted, %d with the resume", len(wa.Meta.History.Validations), len(wb.Meta.History.Validations))
	}
	for i, va := range wa.Meta.History.Validations {
		vb := wb.Meta.History.Validations[i]
		if va.Epoch != vb.Epoch || va.Loss != vb.Loss || va.MAP != vb.MAP || va.Images != vb.Images {
			t.Errorf("validation %d: uninterrupted %+v, resumed %+v", i+1, va, vb)
		}
	}
	for name, x := range wa.Model {
		y, ok := wb.Model[name]
		if !ok || !sameBits(t, x, y) {
			t.Errorf("weight %s differs after the resume", name)
		}
	}
}

// TestResumeRefusesChangedExperiment: the keys that differ are listed, --force overrides.
func TestResumeRefusesChangedExperiment(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment, "training.epochs=1")
	if _, err := apply(t, context.Background(), res, Options{RunName: "a"}); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "runs", "tiny", "a")
	changed := load(t, dir, tinyExperiment, "training.epochs=2", "optimizer.lr=0.02")
	_, err := apply(t, context.Background(), changed, Options{Resume: run})
	if err == nil || !strings.Contains(err.Error(), "optimizer.lr") || !strings.Contains(err.Error(), "training.epochs") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	sum, err := apply(t, context.Background(), changed, Options{Resume: run, Force: true})
	if err != nil || sum.EpochsDone != 2 {
		t.Fatalf("forced resume: %v, %+v", err, sum)
	}
}

// TestTruncatedCheckpoint: a checkpoint cut at any of many byte offsets is refused with
// an error naming it, and "auto" resumes from the previous good one.
func TestTruncatedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment)
	if _, err := apply(t, context.Background(), res, Options{RunName: "a"}); err != nil {
		t.Fatal(err)
	}
	ckDir := filepath.Join(dir, "runs", "tiny", "a", "checkpoints")
	data, err := os.ReadFile(filepath.Join(ckDir, "epoch-0002.pt"))
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.pt")
	offsets := []int{0, 1, 2, 4, 22, 100, 1000, len(data) / 3, len(data) / 2, len(data) - 100, len(data) - 22, len(data) - 1}
	for i := 1; i < 40; i++ {
		offsets = append(offsets, i*len(data)/40)
	}
	for _, n := range offsets {
		if err := os.WriteFile(bad, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := loadCheckpoint(bad)
		if err == nil {
			ck.Close()
			t.Errorf("a checkpoint cut at byte %d of %d loaded", n, len(data))
			continue
		}
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("cut at %d: error %q does not name the file", n, err)
		}
	}
	// last.pt (the newest) cut short: auto takes epoch-0002.pt… unless it is cut too,
	// then epoch-0001.pt.
	for _, name := range []string{"last.pt", "epoch-0002.pt"} {
		os.Remove(filepath.Join(ckDir, name))
		if err := os.WriteFile(filepath.Join(ckDir, name), data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr := &trainer{e: &res.Experiment, log: zerolog.Nop()}
	ck, _, err := tr.autoCheckpoint()
	if err != nil || ck == nil {
		t.Fatalf("auto: %v, %v", ck, err)
	}
	defer ck.Close()
	if filepath.Base(ck.Path) != "epoch-0001.pt" {
		t.Errorf("auto picked %s, want epoch-0001.pt", ck.Path)
	}
}

// TestNonFiniteGuard plants a NaN in a weight: the run stops at the first step, naming
// the epoch, the step and the batch's images; with on_nonfinite = "skip" the batches are
// skipped until max_nonfinite is reached.
func TestNonFiniteGuard(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []string{"fail", "skip"} {
		res := load(t, dir, tinyExperiment, "training.on_nonfinite="+mode, "training.max_nonfinite=2")
		torch.SetThreads(1)
		run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		_, params := run.Model.Parameters("classification_headers")
		nan := ts.FloatScalar(math.NaN())
		if err := torch.NoGrad(func() error {
			return torch.InPlace(params[0], func(p *ts.Tensor) error { return p.Fill_(nan) })
		}); err != nil {
			t.Fatal(err)
		}
		nan.MustDrop()
		_, err = Apply(context.Background(), res, run, Options{Log: zerolog.Nop(), RunName: "nan-" + mode})
		run.Close()
		if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "epoch 1") {
			t.Errorf("%s: err = %v", mode, err)
			continue
		}
		if mode == "fail" && !strings.Contains(err.Error(), "step 1") {
			t.Errorf("fail: err = %v, want it at step 1", err)
		}
		if mode == "skip" && !strings.Contains(err.Error(), "max_nonfinite = 2") {
			t.Errorf("skip: err = %v, want the limit named", err)
		}
		// the run's report says why it stopped
		page, _ := os.ReadFile(filepath.Join(dir, "runs", "tiny", "nan-"+mode, "report.html"))
		if !strings.Contains(string(page), "failed: epoch 1") || !strings.Contains(string(page), "non-finite") {
			t.Errorf("%s: report.html does not say the run failed on a non-finite loss", mode)
		}
	}
}

// sameBits reports whether two float32 tensors hold the same values bit for bit (gotch's
// Equal wrapper does not report torch.equal faithfully).
func sameBits(t *testing.T, a, b *ts.Tensor) bool {
	t.Helper()
	if a.Numel() != b.Numel() {
		return false
	}
	x, y := make([]float32, a.Numel()), make([]float32, b.Numel())
	if err := torch.CopyTo(a, x); err != nil {
		t.Fatal(err)
	}
	if err := torch.CopyTo(b, y); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

// TestApplyMemoryFlat trains 12 short epochs (validating after each, checkpointing every
// other) and requires the C heap in use to stay flat from the end of epoch 2 to the end:
// gotch v0.7.0 has no finalizers, so a tensor that one step, validation or checkpoint
// forgets to free grows the heap by at least its size every time. The bound, 4 MiB over 30
// steps, is a tenth of one batch of this model's activations (a 4×3×300×300 float32 input
// alone is 4.1 MiB), so any leaked activation fails it, while allocator bookkeeping
// (free lists, arena trimming) stays well under it.
func TestApplyMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 36 steps")
	}
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment, "training.epochs=12", "data.train.count=12", "data.validation.count=4",
		"training.checkpoint.every=2", "data.workers=1")
	var at6, atEnd int64
	_, err := apply(t, context.Background(), res, Options{RunName: "mem", OnStep: func(epoch, step, global int) {
		switch global {
		case 6:
			at6 = torch.MallocInUse()
		case 36:
			atEnd = torch.MallocInUse()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	growth := atEnd - at6
	t.Logf("C heap in use: %.1f MiB after epoch 2, %.1f MiB after epoch 12 (%+.2f MiB)", float64(at6)/(1<<20), float64(atEnd)/(1<<20), float64(growth)/(1<<20))
	if growth > 4<<20 {
		t.Errorf("the C heap grew by %.2f MiB over 30 steps", float64(growth)/(1<<20))
	}
}

// TestFreeze trains with training.freeze = "base_net": every variable of base_net
// (weights and batch-norm running statistics) is bit for bit as it started, while the
// other modules change; with frozen_batch_norm = "train" (the reference's behaviour) the
// running statistics drift and the weights stay.
func TestFreeze(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []string{"eval", "train"} {
		res := load(t, dir, tinyExperiment, "training.freeze=base_net", "training.frozen_batch_norm="+mode, "training.epochs=1",
			"data.validation.count=4")
		torch.SetThreads(1)
		run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		before := map[string][]float32{}
		for name, v := range modelVars(run.Model) {
			x := make([]float32, v.Numel())
			if err := torch.CopyTo(v, x); err != nil {
				t.Fatal(err)
			}
			before[name] = x
		}
		if _, err := Apply(context.Background(), res, run, Options{Log: zerolog.Nop(), RunName: "freeze-" + mode}); err != nil {
			t.Fatal(err)
		}
		changed := map[string]bool{}
		for name, v := range modelVars(run.Model) {
			x := make([]float32, v.Numel())
			if err := torch.CopyTo(v, x); err != nil {
				t.Fatal(err)
			}
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(before[name][i]) {
					changed[name] = true
					break
				}
			}
		}
		run.Close()
		for name := range before {
			base := strings.HasPrefix(name, "base_net.")
			stat := strings.HasSuffix(name, ".running_mean") || strings.HasSuffix(name, ".running_var")
			switch {
			case base && !stat && changed[name]:
				t.Errorf("%s: frozen weight %s changed", mode, name)
			case base && stat && mode == "eval" && changed[name]:
				t.Errorf("eval: running statistic %s of a frozen module changed", name)
			case base && stat && mode == "train" && !changed[name]:
				t.Errorf("train: running statistic %s of a frozen module did not drift", name)
			case !base && !changed[name]:
				t.Errorf("%s: trainable %s did not change", mode, name)
			}
		}
	}
}

// TestLossDecreases: a few epochs on a handful of images lower the training loss well
// below where it started (the MultiBox loss of a fresh SSD is dominated by the
// classification of thousands of background priors, which the first steps learn).
func TestLossDecreases(t *testing.T) {
	dir := t.TempDir()
	res := load(t, dir, tinyExperiment, "training.epochs=12", "data.train.count=8", "data.validation.count=4",
		"training.validate_every=12", "scheduler.t_max=100")
	if _, err := apply(t, context.Background(), res, Options{RunName: "fit"}); err != nil {
		t.Fatal(err)
	}
	steps := readSteps(t, filepath.Join(dir, "runs", "tiny", "fit"))
	first := (steps[0].Loss + steps[1].Loss) / 2
	last := (steps[len(steps)-1].Loss + steps[len(steps)-2].Loss) / 2
	t.Logf("loss %.3f over the first two steps, %.3f over the last two (%d steps)", first, last, len(steps))
	if !(last < 0.7*first) {
		t.Errorf("the loss went from %.3f to %.3f in %d steps", first, last, len(steps))
	}
}
