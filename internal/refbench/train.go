package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/internal/reftest"
)

// The train case times whole training epochs — loading, augmentation, matching, the step —
// of `runner apply` against the reference's own train_ssd.py, run unmodified as a script
// the way its users run it: mb2-ssd-lite from scratch, batch 16, SGD with cosine annealing
// at lr 0.01, the same VOC-format folder of 500x375 shapes JPEGs, the same thread count,
// each side with its own data-loader settings (train_ssd.py's 4 DataLoader worker
// processes; the recipe's data.workers = 4 goroutines). Each side's images/s comes from its
// own log: train_ssd.py's timestamped lines (the time from the last line before an epoch's
// first step to the line of its last step), and for ours the "epoch done" events of
// `runner apply`'s log (the time from one to the next), so both count everything between
// the end of one epoch and the end of the next. The first epoch is left out (warm-up;
// train_ssd.py also validates after it, whatever --validation_epochs says).

// trainFlags are the train case's settings (flags of refbench).
type trainFlags struct {
	images, valImages, epochs int
	runner                    string   // our binary; "" builds one
	sets                      setFlags // --set overrides for our side (-ours-set)
}

// setFlags collects a repeated string flag.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// trainCaseName is the name -run selects the train case by.
const trainCaseName = "train mb2-ssd-lite whole epochs, images/s (runner apply vs train_ssd.py)"

const trainBatch = 16

// trainData is a generated VOC-format training folder and a validation folder.
type trainData struct {
	train, val string
	images     int
}

// genVOC writes count 500x375 shapes images (seed) as a VOC folder with the given split,
// unless a complete one is there (WriteVOC writes the split file last).
func genVOC(dir string, count, seed int, split string) error {
	if _, err := os.Stat(filepath.Join(dir, "ImageSets", "Main", split+".txt")); err == nil {
		return nil
	}
	c := shapes.DefaultConfig()
	c.Count, c.Seed, c.ImageWidth, c.ImageHeight = count, seed, 500, 375
	src, err := shapes.New(c)
	if err != nil {
		return err
	}
	return dataset.WriteVOC(src, dir, split)
}

// prepareTrainData generates (once per size, in the temporary folder) the training and
// validation folders.
func prepareTrainData(name string, images, valImages int) (trainData, error) {
	root := filepath.Join(os.TempDir(), fmt.Sprintf("ssdrunner-refbench-%s-%d-%d", name, images, valImages))
	d := trainData{train: filepath.Join(root, "train"), val: filepath.Join(root, "val"), images: images}
	if err := genVOC(d.train, images, 1, "trainval"); err != nil {
		return d, fmt.Errorf("training images: %w", err)
	}
	if err := genVOC(d.val, valImages, 2, "test"); err != nil {
		return d, fmt.Errorf("validation images: %w", err)
	}
	return d, nil
}

// moduleRoot is the repository's root (refbench lives in internal/refbench).
func moduleRoot() string { return filepath.Dir(filepath.Dir(sourceDir())) }

var (
	runnerOnce sync.Once
	runnerBin  string
	runnerErr  error
)

// runnerBinary returns the path of our runner binary: flag's, else one built (once) with
// `go build` into the temporary folder, in this environment (make exports the CGO flags).
func runnerBinary(flag string) (string, error) {
	if flag != "" {
		return filepath.Abs(flag)
	}
	runnerOnce.Do(func() {
		runnerBin = filepath.Join(os.TempDir(), "ssdrunner-refbench-runner")
		fmt.Fprintf(os.Stderr, "refbench: building runner into %s (pass -runner bin/runner to use a built one)…\n", runnerBin)
		cmd := exec.Command("go", "build", "-o", runnerBin, "./runner/cmd/runner")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			runnerErr = fmt.Errorf("go build ./runner/cmd/runner: %v: %s", err, out)
		}
	})
	return runnerBin, runnerErr
}

// oursExperiment is the experiment `runner apply` trains: the repository's mb2-ssd-lite VOC
// recipe, from scratch (no base net, as train_ssd.py without --base_net), on the folders,
// batch 16, cosine over the run's epochs, validation only after the last epoch.
func oursExperiment(d trainData, epochs, threads, seed int, outDir string) string {
	return fmt.Sprintf(`# refbench: experiments/mb2-ssdlite-voc.hcl on generated folders, as train_ssd.py is run
inherits = [%q]

model {
  init {
    base_net = ""
  }
}

data {
  train "voc" {
    roots = [%q]
    split = "trainval"
  }
  validation "voc" {
    roots = [%q]
    split = "test"
  }
  batch_size = %d
}

scheduler "cosine" {
  t_max = %d
}

training {
  epochs         = %d
  validate_every = %d
  threads        = %d
  seed           = %d
}

output {
  dir = %q
}
`, filepath.Join(moduleRoot(), "experiments", "mb2-ssdlite-voc.hcl"), d.train, d.val, trainBatch, epochs, epochs, epochs+1, threads, seed, outDir)
}

// sideRun is one training run of one side.
type sideRun struct {
	epochs []epochTime // per epoch (Epoch counts from 0, as train_ssd.py logs)
	images int         // per epoch
	rssMB  []float64   // ours: resident memory at the end of each epoch
	wall   float64     // seconds, start to exit of the process
	dir    string      // ours: the run folder; reference: its checkpoint folder
}

// epochTime is one epoch's wall time as its side logged it.
type epochTime struct {
	Epoch   int
	Seconds float64
}

// imagesPerSec is the images/s of the epochs from the second on.
func (r sideRun) imagesPerSec() (float64, error) {
	var secs float64
	n := 0
	for _, e := range r.epochs {
		if e.Epoch >= 1 {
			secs += e.Seconds
			n++
		}
	}
	if n == 0 || secs <= 0 {
		return 0, errors.New("no epoch after the first was timed (run at least 2 epochs)")
	}
	return float64(n*r.images) / secs, nil
}

// runOurs trains with `runner apply` and reads its epochs' times from the "epoch done"
// events of its JSON log (as they arrive: zerolog's timestamps have whole seconds) and its
// resident memory at each.
func runOurs(ctx context.Context, bin string, d trainData, epochs, threads, seed int, work, name string, sets []string) (sideRun, error) {
	var r sideRun
	exp := filepath.Join(work, "ours.hcl")
	if err := os.WriteFile(exp, []byte(oursExperiment(d, epochs, threads, seed, filepath.Join(work, "runs"))), 0o644); err != nil {
		return r, err
	}
	args := []string{"--log-format", "json", "apply", exp, "--run-name", name}
	for _, kv := range sets {
		args = append(args, "--set", kv)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = work
	var stdout strings.Builder
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	var tail []string // the last lines, for an error message
	var last time.Time
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if tail = append(tail, line); len(tail) > 20 {
			tail = tail[1:]
		}
		var ev struct {
			Message string `json:"message"`
			Epoch   int    `json:"epoch"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Message != "epoch done" {
			continue
		}
		now := time.Now()
		rss, _ := processRSS(cmd.Process.Pid)
		r.rssMB = append(r.rssMB, float64(rss)/(1<<20))
		if !last.IsZero() {
			r.epochs = append(r.epochs, epochTime{Epoch: ev.Epoch - 1, Seconds: now.Sub(last).Seconds()})
		}
		last = now
	}
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("runner apply: %v\n%s", err, strings.Join(tail, "\n"))
	}
	r.wall = time.Since(start).Seconds()
	r.dir = filepath.Join(work, "runs", "ours", name)
	recs, err := epochRecords(filepath.Join(r.dir, "metrics.jsonl"))
	if err != nil {
		return r, err
	}
	if len(recs) != epochs {
		return r, fmt.Errorf("%s: %d epoch records, want %d", r.dir, len(recs), epochs)
	}
	r.images = recs[0]
	return r, nil
}

// epochRecords returns the images of each epoch record of a metrics.jsonl.
func epochRecords(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []int
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct {
			Kind   string `json:"kind"`
			Images int    `json:"images"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		if rec.Kind == "epoch" {
			out = append(out, rec.Images)
		}
	}
	return out, nil
}

// processRSS is a process's resident set size in bytes (/proc/PID/statm).
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/%d/statm: %q", pid, b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

// referenceArgs are train_ssd.py's arguments: the recipe, validation pushed past the end
// (train_ssd.py validates after epoch 0 and the last one whatever --validation_epochs is),
// and --debug_steps such that each epoch logs its last step, when it ends.
func referenceArgs(script string, d trainData, epochs int, ckpt string) []string {
	steps := (d.images + trainBatch - 1) / trainBatch
	return []string{script, "--net", "mb2-ssd-lite", "--dataset_type", "voc",
		"--datasets", d.train, "--validation_dataset", d.val,
		"--batch_size", fmt.Sprint(trainBatch), "--scheduler", "cosine", "--lr", "0.01",
		"--t_max", fmt.Sprint(epochs), "--num_epochs", fmt.Sprint(epochs), "--validation_epochs", fmt.Sprint(epochs + 1),
		"--debug_steps", fmt.Sprint(max(steps-1, 1)), "--checkpoint_folder", ckpt}
}

// runReferenceTrain runs the reference's train_ssd.py unmodified, as a script, and reads
// its epochs' times from its log.
func runReferenceTrain(ctx context.Context, ref string, d trainData, epochs int, env []string, work string) (sideRun, error) {
	var r sideRun
	steps := (d.images + trainBatch - 1) / trainBatch
	if steps < 2 {
		return r, fmt.Errorf("%d images make %d step(s) per epoch: train_ssd.py logs no step before the second", d.images, steps)
	}
	r.dir = filepath.Join(work, "reference")
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, reftest.Python(), referenceArgs(filepath.Join(ref, "train_ssd.py"), d, epochs, r.dir)...)
	cmd.Dir = work
	cmd.Env = append(append(os.Environ(), env...), "PYTHONPATH="+pythonPath())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.wall = time.Since(start).Seconds()
	logPath := filepath.Join(work, "train_ssd.log")
	_ = os.WriteFile(logPath, []byte(stdout.String()), 0o644)
	if err != nil {
		return r, fmt.Errorf("train_ssd.py: %v: %s", err, lastLines(stderr.String(), 8))
	}
	lg, err := parseTrainLog(strings.NewReader(stdout.String()), steps)
	if err != nil {
		return r, fmt.Errorf("train_ssd.py's log (%s): %w", logPath, err)
	}
	if lg.Images != d.images {
		return r, fmt.Errorf("train_ssd.py's log (%s): %d training images, want %d", logPath, lg.Images, d.images)
	}
	r.epochs, r.images = lg.Epochs, lg.Images
	return r, nil
}

// pythonPath puts the NumPy compatibility shim (pycompat/sitecustomize.py) before the
// environment's PYTHONPATH.
func pythonPath() string {
	p := filepath.Join(sourceDir(), "pycompat")
	if old := os.Getenv("PYTHONPATH"); old != "" {
		p += string(os.PathListSeparator) + old
	}
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// trainLog is what parseTrainLog reads from train_ssd.py's output.
type trainLog struct {
	Images int         // "Train dataset size: N"
	Epochs []epochTime // the epochs whose last step was logged
}

var (
	logLineRE  = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - \S+ - [A-Z]+ - (.*)$`)
	logStepRE  = regexp.MustCompile(`^Epoch: (\d+), Step: (\d+),`)
	logSizeRE  = regexp.MustCompile(`^Train dataset size: (\d+)`)
	logTimeFmt = "2006-01-02 15:04:05,000"
)

// parseTrainLog reads train_ssd.py's log (logging's "%(asctime)s - %(name)s -
// %(levelname)s - %(message)s" lines on stdout) of a run with steps batches per epoch. An
// epoch runs from the line logged before its first "Epoch: E, Step: S" line (the previous
// epoch's last step, or its validation and checkpoint, or the start) to its line of step
// steps-1, the last (train_ssd.py logs step i when i is a non-zero multiple of
// --debug_steps, after its optimizer step). Epochs whose last step is not logged are left
// out; timestamps are local time with milliseconds, so a clock change during a run skews it.
func parseTrainLog(r io.Reader, steps int) (trainLog, error) {
	var out trainLog
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var prev time.Time // the previous timestamped line
	cur := -1
	var start time.Time
	n := 0
	for sc.Scan() {
		n++
		m := logLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // warnings, tracebacks, continuation lines
		}
		ts, err := time.Parse(logTimeFmt, m[1])
		if err != nil {
			return out, fmt.Errorf("line %d: %v", n, err)
		}
		msg := m[2]
		if s := logSizeRE.FindStringSubmatch(msg); s != nil {
			out.Images, _ = strconv.Atoi(s[1])
		}
		if s := logStepRE.FindStringSubmatch(msg); s != nil {
			epoch, _ := strconv.Atoi(s[1])
			step, _ := strconv.Atoi(s[2])
			if epoch != cur {
				if epoch < cur {
					return out, fmt.Errorf("line %d: epoch %d after epoch %d", n, epoch, cur)
				}
				if prev.IsZero() {
					return out, fmt.Errorf("line %d: epoch %d's first step line has no line before it to start from", n, epoch)
				}
				cur, start = epoch, prev
			}
			if step == steps-1 {
				out.Epochs = append(out.Epochs, epochTime{Epoch: epoch, Seconds: ts.Sub(start).Seconds()})
			}
		}
		prev = ts
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if len(out.Epochs) == 0 {
		return out, fmt.Errorf("no epoch's last step (Step: %d) was logged (%d lines)", steps-1, n)
	}
	return out, nil
}

// runTrainCase runs the train case in rounds that alternate the two sides and prints its
// table: each round's images/s, the median ratio against its target, and our resident
// memory per epoch.
func runTrainCase(f trainFlags, ref string, threads, rounds int, refEnv []string) error {
	if f.epochs < 2 {
		return fmt.Errorf("-train-epochs %d: need at least 2 (the first is left out)", f.epochs)
	}
	bin, err := runnerBinary(f.runner)
	if err != nil {
		return err
	}
	d, err := prepareTrainData("train", f.images, f.valImages)
	if err != nil {
		return err
	}
	steps := (f.images + trainBatch - 1) / trainBatch
	fmt.Printf("\n%s\n", trainCaseName)
	fmt.Printf("  %d images of 500x375 (%d steps of %d), %d epochs (the first left out), %d thread(s), %d round(s); data in %s\n",
		f.images, steps, trainBatch, f.epochs, threads, rounds, filepath.Dir(d.train))
	if ref == "" {
		fmt.Println("  (reference skipped: only ours is timed)")
	}
	ctx := context.Background()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tours images/s\tours wall s\treference images/s\treference wall s\tratio (ours/reference images/s)\t")
	var ratios []float64
	var rss [][]float64
	for round := 1; round <= rounds; round++ {
		work, err := os.MkdirTemp("", "refbench-train-")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "refbench: train round %d: runner apply…\n", round)
		ours, err := runOurs(ctx, bin, d, f.epochs, threads, 0, work, fmt.Sprintf("round%d", round), f.sets)
		if err != nil {
			return err
		}
		oips, err := ours.imagesPerSec()
		if err != nil {
			return fmt.Errorf("ours: %w", err)
		}
		rss = append(rss, ours.rssMB)
		refCol, refWall, ratio := "-", "-", "-"
		if ref != "" {
			fmt.Fprintf(os.Stderr, "refbench: train round %d: train_ssd.py…\n", round)
			rr, err := runReferenceTrain(ctx, ref, d, f.epochs, refEnv, work)
			if err == nil {
				var rips float64
				if rips, err = rr.imagesPerSec(); err == nil {
					refCol, refWall = fmt.Sprintf("%.2f", rips), fmt.Sprintf("%.1f", rr.wall)
					ratios = append(ratios, oips/rips)
					ratio = fmt.Sprintf("%.2f", oips/rips)
				}
			}
			if err != nil {
				refCol = "error: " + firstLine(err.Error())
				fmt.Fprintln(os.Stderr, "refbench: reference:", err)
				ref = "" // no further rounds of it
			}
		}
		fmt.Fprintf(tw, "%d\t%.2f\t%.1f\t%s\t%s\t%s\t\n", round, oips, ours.wall, refCol, refWall, ratio)
		os.RemoveAll(work)
	}
	tw.Flush()
	if len(ratios) > 0 {
		fmt.Printf("  median ratio %.2f (rounds %.2f–%.2f); target ≥ 1.3 (ours at least 1.3× the reference's images/s)\n",
			median(ratios), slices.Min(ratios), slices.Max(ratios))
	}
	for i, r := range rss {
		fmt.Printf("  ours resident memory at the end of each epoch, round %d (MB): %s%s\n", i+1, joinMB(r), rssGrowth(r))
	}
	return nil
}

func joinMB(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, " ")
}

// rssGrowth is the growth from the end of epoch 2 to the end of the run, against the
// issue's bound (< 5 %), when there are at least 3 epochs.
func rssGrowth(v []float64) string {
	if len(v) < 3 || v[1] <= 0 {
		return ""
	}
	return fmt.Sprintf("; epoch 2 → end %+.1f %% (target < 5 %%)", 100*(v[len(v)-1]/v[1]-1))
}
