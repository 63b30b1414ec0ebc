// Command refbench times operations of ours and of the PyTorch SSD reference (run with
// Debian's python3-torch on the same machine, thread count and shapes) side by side, and
// prints the ratios that the speed targets are stated in. `make bench` runs it.
//
// The reference and its interpreter are found as the tests find them (internal/reftest):
// the checkout at $SSD_REFERENCE (`make reference` exports one into build/reference, which
// make then names), the interpreter $SSD_PYTHON (default /usr/bin/python3); without
// either, only our timings are printed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssdrunner/ssdrunner/internal/reftest"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// A bench case: our implementation and the reference's case name (reference.py).
type benchCase struct {
	name   string // shown in the table
	ref    string // reference.py case, "" when the reference has no counterpart
	reps   int
	target string // the target, shown beside the ratio
	ours   func(reps int) ([]float64, error)
	// ops counts our libtorch ops of one step (-ops); nil when the case has no op count.
	ops func() (map[string]int64, error)
	// refArg, when set, gives the reference.py case at run time (after the case's data
	// is prepared), in place of ref.
	refArg func() (string, error)
}

// benchThreads is the -threads flag, for the cases that start their own libtorch thread.
var benchThreads int

func main() {
	threads := flag.Int("threads", runtime.NumCPU(), "libtorch threads, for both sides")
	only := flag.String("run", "", "regexp: run only the cases whose name matches")
	quick := flag.Bool("quick", false, "one repetition per case (a smoke run)")
	sameMalloc := flag.Bool("same-malloc", false, "run the reference with our malloc policy too (isolates the framework's own overhead)")
	rounds := flag.Int("rounds", 3, "alternate ours and the reference this many times per case; the ratio is the median of the rounds' ratios")
	ops := flag.Bool("ops", false, "instead of timing, count the libtorch ops of one step on each side and print where they differ")
	var tf trainFlags
	flag.IntVar(&tf.images, "train-images", 64, "train case: training images (500x375 JPEGs) per epoch")
	flag.IntVar(&tf.valImages, "train-val-images", 16, "train case: validation images (each side validates after the last epoch; train_ssd.py after the first too)")
	flag.IntVar(&tf.epochs, "train-epochs", 3, "train case: epochs per run (the first is left out of the images/s)")
	flag.StringVar(&tf.runner, "runner", "", "our runner binary for the train and time-to-accuracy cases (default: go build one into the temporary folder)")
	tta := flag.Bool("time-to-accuracy", false, "instead of the cases, the time-to-accuracy comparison (make bench-train; -acc-* flags)")
	var af accFlags
	flag.IntVar(&af.train, "acc-train", 800, "time to accuracy: training images")
	flag.IntVar(&af.val, "acc-val", 200, "time to accuracy: validation images")
	flag.IntVar(&af.epochs, "acc-epochs", 5, "time to accuracy: epochs of every run")
	flag.IntVar(&af.runs, "acc-runs", 2, "time to accuracy: runs per side (their spread is the run-to-run spread)")
	flag.Parse()
	if *quick || *rounds < 1 {
		*rounds = 1
	}
	torch.SetThreads(*threads)
	benchThreads = *threads

	var re *regexp.Regexp
	if *only != "" {
		var err error
		if re, err = regexp.Compile(*only); err != nil {
			fmt.Fprintln(os.Stderr, "refbench:", err)
			os.Exit(2)
		}
	}
	ref, why := reference()
	if ref == "" {
		fmt.Printf("reference timings skipped: %s\n\n", why)
	}
	if *tta {
		if err := runTimeToAccuracy(af, tf, ref, *threads, referenceEnv(*threads, *sameMalloc)); err != nil {
			fmt.Fprintln(os.Stderr, "refbench:", err)
			os.Exit(1)
		}
		return
	}
	if *ops {
		if err := compareOps(re, ref, *threads); err != nil {
			fmt.Fprintln(os.Stderr, "refbench:", err)
			os.Exit(1)
		}
		return
	}
	refEnv := referenceEnv(*threads, *sameMalloc)
	refMalloc := "glibc's defaults"
	if inheritedMalloc() {
		refMalloc = "glibc with this environment's malloc settings (inherited: " + mallocEnv() + ")"
	}
	if *sameMalloc && torch.MallocPolicy() == "hugepages" {
		refMalloc = "huge pages for malloc's mappings (-same-malloc)"
	}
	fmt.Printf("refbench: %d thread(s), medians over repetitions (spread = max/min); ratio = ours / reference (< 1: we are faster),\n", *threads)
	fmt.Printf("the median over %d round(s) that alternate ours and the reference (rounds: the lowest and highest round's ratio)\n", *rounds)
	fmt.Printf("malloc: ours %s (RUNNER_MALLOC), reference %s\n\n", torch.MallocPolicy(), refMalloc)
	var selected []benchCase
	for _, c := range cases() {
		if re == nil || re.MatchString(c.name) {
			selected = append(selected, c)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(selected) > 0 {
		fmt.Fprintln(tw, "case\tours ms\tspread\treference ms\tspread\tratio\trounds\ttarget\t")
	}
	// the table prints once, aligned (progress goes to stderr); the train case after it
	failed := false
	for _, c := range selected {
		reps := c.reps
		if *quick {
			reps = 1
		}
		fmt.Fprintf(os.Stderr, "refbench: %s…\n", c.name)
		res := runCase(c, ref, *threads, reps, *rounds, refEnv)
		if res.err != nil {
			fmt.Fprintf(tw, "%s\terror: %v\t\t\t\t\t\t\t\n", c.name, res.err)
			failed = true
			continue
		}
		refCol, refSpread, ratio, span := "-", "", "-", ""
		switch {
		case res.refErr != nil:
			refCol = "error: " + firstLine(res.refErr.Error())
		case len(res.ref) > 0:
			refCol, refSpread = fmt.Sprintf("%.1f", median(res.ref)), fmt.Sprintf("%.2f", spread(res.ref))
			ratio = fmt.Sprintf("%.2f", median(res.ratios))
			lo, hi := slices.Min(res.ratios), slices.Max(res.ratios)
			span = fmt.Sprintf("%.2f–%.2f", lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%s\t%s\t%s\t%s\t%s\t\n", c.name, median(res.ours), spread(res.ours), refCol, refSpread, ratio, span, c.target)
	}
	tw.Flush()
	if re == nil || re.MatchString(trainCaseName) {
		fmt.Fprintln(os.Stderr, "refbench: train…")
		if err := runTrainCase(tf, ref, *threads, *rounds, refEnv); err != nil {
			fmt.Printf("%s: error: %v\n", trainCaseName, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// referenceEnv is what the reference's processes get besides this environment: the thread
// count (through OMP_NUM_THREADS and OpenBLAS's variable, as a user sets it), and with
// sameMalloc our malloc policy.
func referenceEnv(threads int, sameMalloc bool) []string {
	env := []string{fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads)}
	if sameMalloc && torch.MallocPolicy() == "hugepages" {
		// glibc's hugetlb tunable advises all of malloc's mappings, ours only blocks
		// of 2 MiB or more: the reference gets at least as much.
		env = append(env, "MALLOC_ARENA_MAX=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
	}
	return env
}

// caseResult is one case's timings: every repetition of ours and of the reference, and
// each round's ratio of medians.
type caseResult struct {
	ours, ref []float64
	ratios    []float64
	err       error // ours failed
	refErr    error // the reference failed (ours are still shown)
}

// runCase times a case in rounds that alternate ours and the reference, each round with
// about reps/rounds repetitions (at least 1), so that a change in the machine's load
// during the case weighs on both sides alike.
func runCase(c benchCase, ref string, threads, reps, rounds int, refEnv []string) caseResult {
	var res caseResult
	per := max(1, (reps+rounds-1)/rounds)
	refCase := c.ref
	for r := 0; r < rounds; r++ {
		ours, err := c.ours(per)
		if err != nil {
			res.err = err
			return res
		}
		res.ours = append(res.ours, ours...)
		if ref == "" || c.ref == "" || res.refErr != nil {
			continue
		}
		if c.refArg != nil && refCase == c.ref {
			if refCase, err = c.refArg(); err != nil {
				res.refErr = err
				continue
			}
		}
		rms, err := runReference(ref, refCase, threads, per, refEnv)
		if err != nil {
			res.refErr = err
			continue
		}
		res.ref = append(res.ref, rms...)
		res.ratios = append(res.ratios, median(ours)/median(rms))
	}
	if res.refErr != nil {
		res.ref, res.ratios = nil, nil
	}
	return res
}

// reference returns the path of a checkout of the reference, or why there is none.
func reference() (string, string) {
	if err := reftest.PythonImports("torch"); err != nil {
		return "", err.Error()
	}
	dir, err := reftest.Checkout()
	if err != nil {
		return "", err.Error()
	}
	return dir, ""
}

// refTimeout bounds one reference.py run: eval_ssd.py over 200 images of a barely trained
// model runs its Python NMS over hundreds of candidates per class and image.
const refTimeout = 60 * time.Minute

func runReference(ref, name string, threads, reps int, env []string) ([]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), refTimeout)
	defer cancel()
	script := filepath.Join(sourceDir(), "reference.py")
	cmd := exec.CommandContext(ctx, reftest.Python(), script, ref, name, fmt.Sprint(threads), fmt.Sprint(reps))
	cmd.Env = append(os.Environ(), env...)
	var res struct {
		MS []float64 `json:"ms"`
	}
	if err := runScript(cmd, &res); err != nil {
		return nil, err
	}
	if len(res.MS) == 0 {
		return nil, fmt.Errorf("reference.py %s: no timings", name)
	}
	return res.MS, nil
}

// runScript runs reference.py and decodes the JSON of its last output line into v.
func runScript(cmd *exec.Cmd, v any) error {
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		return fmt.Errorf("unexpected output: %s", out)
	}
	return nil
}

// sourceDir is this package's folder (reference.py lives beside main.go).
func sourceDir() string {
	if d := os.Getenv("REFBENCH_DIR"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	for _, cand := range []string{filepath.Join(wd, "internal", "refbench"), wd} {
		if _, err := os.Stat(filepath.Join(cand, "reference.py")); err == nil {
			return cand
		}
	}
	return wd
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(v []float64) float64 {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if lo == 0 {
		return 0
	}
	return hi / lo
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}

// timeReps runs fn once to warm up, then reps times, returning milliseconds per run.
func timeReps(reps int, fn func() error) ([]float64, error) {
	if err := fn(); err != nil {
		return nil, err
	}
	out := make([]float64, 0, reps)
	for i := 0; i < reps; i++ {
		t := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, float64(time.Since(t).Microseconds())/1000)
	}
	return out, nil
}

// inheritedMalloc reports whether the environment sets glibc malloc tunables, which the
// reference inherits (ours then keeps libtorch's allocator too: the identical-policy mode).
func inheritedMalloc() bool { return mallocEnv() != "" }

// mallocEnv lists the environment's glibc malloc settings (GLIBC_TUNABLES, MALLOC_*).
func mallocEnv() string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GLIBC_TUNABLES=") || strings.HasPrefix(kv, "MALLOC_") {
			out = append(out, kv)
		}
	}
	return strings.Join(out, " ")
}
