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
	"github.com/ssdrunner/ssdrunner/internal/sysmon"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// A bench case: our implementation and the reference's case name (reference.py).
type benchCase struct {
	name   string // shown in the table
	ref    string // reference.py case, "" when the reference has no counterpart
	reps   int
	target string // the target, shown beside the ratio
	ours   func(reps int) (measured, error)
	// ops counts our libtorch ops of one step (-ops); nil when the case has no op count.
	ops func() (map[string]int64, error)
	// refArg, when set, gives the reference.py case at run time (after the case's data
	// is prepared), in place of ref.
	refArg func() (string, error)
	// cleanup, when set, frees what the case prepared; it runs after the case.
	cleanup func()
	// pair, when set, builds our step for a paired round (-paired): the step and the
	// function that frees what it holds.
	pair func() (step func() error, done func(), err error)
}

// pairedRounds is the -paired flag.
var pairedRounds bool

// benchThreads is the -threads flag, for the cases that start their own libtorch thread.
var benchThreads int

func main() {
	threads := flag.Int("threads", runtime.NumCPU(), "libtorch threads, for both sides")
	only := flag.String("run", "", "regexp: run only the cases whose name matches")
	quick := flag.Bool("quick", false, "one repetition per case (a smoke run)")
	sameMalloc := flag.Bool("same-malloc", false, "run both sides with one and the same malloc policy: libtorch's own allocator on glibc malloc with "+strings.Join(identicalMalloc, " ")+", set by refbench for both processes (isolates the framework's own overhead)")
	rounds := flag.Int("rounds", 3, "alternate ours and the reference this many times per case; the ratio is the median of the rounds' ratios")
	jsonOut := flag.String("json", "", "also write every case's medians and ratios to this JSON file")
	mallocColumns := flag.Bool("malloc-columns", true, "after the table, run the training cases again under -same-malloc and print both ratios side by side (without -same-malloc, with the reference)")
	sysmonIdle := flag.Bool("sysmon-idle", false, "our side: give the Go runtime's sysmon thread the SCHED_IDLE policy (an experiment; see internal/sysmon)")
	flag.BoolVar(&pairedRounds, "paired", true, "training cases: each round keeps our step and the reference's warm at once and times them in turn, step by step (the reference serving its case), instead of a block of ours and then a block of the reference's")
	ops := flag.Bool("ops", false, "instead of timing, count the libtorch ops of one step on each side and print where they differ")
	var tf trainFlags
	flag.IntVar(&tf.images, "train-images", 64, "train case: training images (500x375 JPEGs) per epoch")
	flag.IntVar(&tf.valImages, "train-val-images", 16, "train case: validation images (each side validates after the last epoch; train_ssd.py after the first too)")
	flag.IntVar(&tf.epochs, "train-epochs", 3, "train case: epochs per run (the first is left out of the images/s)")
	flag.Var(&tf.sets, "ours-set", "train and time-to-accuracy cases: a --set KEY=VALUE for our runner apply (repeatable), e.g. -ours-set training.channels_last=false (the recipe sets true)")
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
	if *sameMalloc && os.Getenv(childMarker) == "" {
		// glibc reads its tunables when a process starts: ours needs a process of its own.
		os.Exit(reexecWithMalloc(*threads))
	}
	if *sameMalloc {
		if err := checkIdenticalMalloc(); err != nil {
			fmt.Fprintln(os.Stderr, "refbench:", err)
			os.Exit(1)
		}
	}
	blasAtStart := os.Getenv("OPENBLAS_NUM_THREADS")
	if *sysmonIdle {
		sm, err := sysmon.Idle()
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "refbench: -sysmon-idle:", err)
			os.Exit(1)
		case !sm.Changed:
			fmt.Fprintln(os.Stderr, "refbench: -sysmon-idle: sysmon's thread not found:", sm.Reason)
			os.Exit(1)
		}
		fmt.Printf("ours: the Go runtime's sysmon thread (%d) at SCHED_IDLE (-sysmon-idle)\n", sm.TID)
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
		ttaEnv := threadEnv(*threads)
		if *sameMalloc {
			ttaEnv = append(ttaEnv, identicalMalloc...)
		}
		if err := runTimeToAccuracy(af, tf, ref, *threads, ttaEnv); err != nil {
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
	refEnv := append(os.Environ(), threadEnv(*threads)...)
	oursMalloc, refMalloc := describeMalloc()
	if *sameMalloc {
		// set again here, not only inherited from the re-executed parent
		refEnv = append(withoutMalloc(refEnv), identicalMalloc...)
	}
	fmt.Printf("refbench: %d thread(s), medians over repetitions (spread = max/min); ratio = ours / reference (< 1: we are faster),\n", *threads)
	fmt.Printf("the median over %d round(s) that alternate ours and the reference (rounds: the lowest and highest round's ratio)\n", *rounds)
	if *sameMalloc {
		fmt.Printf("malloc (-same-malloc), both sides: %s\n", oursMalloc)
	} else {
		fmt.Printf("malloc: ours %s;\n        reference %s\n", oursMalloc, refMalloc)
	}
	if n := torch.BLASThreads(); n >= 0 {
		why := "runner's choice: libtorch's OpenMP threads do the parallel work"
		if blasAtStart != "" {
			why = "OPENBLAS_NUM_THREADS=" + blasAtStart + " when refbench started"
		}
		fmt.Printf("OpenBLAS threads: ours %d (%s), the reference %d (OPENBLAS_NUM_THREADS, as a torch user's default of one per core when it equals the cores)\n", n, why, *threads)
	}
	fmt.Println("per repetition, ours/reference (getrusage of each process, medians): minor and major page faults, user and system CPU ms, involuntary context switches")
	fmt.Println()
	var selected []benchCase
	for _, c := range cases() {
		if re == nil || re.MatchString(c.name) {
			selected = append(selected, c)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	if len(selected) > 0 {
		fmt.Fprintln(tw, "case\tours ms\tspread\treference ms\tspread\tratio\trounds\ttarget\tminflt\tmajflt\tuser ms\tsys ms\tinvol cs\t")
	}
	// the table prints once, aligned (progress goes to stderr); the train case after it
	failed := false
	var rows []resultRow
	for _, c := range selected {
		reps := c.reps
		if *quick {
			reps = 1
		}
		fmt.Fprintf(os.Stderr, "refbench: %s…\n", c.name)
		res := runCase(c, ref, *threads, reps, *rounds, refEnv)
		if c.cleanup != nil {
			c.cleanup()
		}
		if res.err != nil {
			fmt.Fprintf(tw, "%s\terror: %v\t\t\t\t\t\t\t\t\t\t\t\t\n", c.name, res.err)
			failed = true
			continue
		}
		refCol, refSpread, ratio, span := "-", "", "-", ""
		row := resultRow{Name: c.name, OursMS: median(res.ours), Target: c.target}
		switch {
		case res.refErr != nil:
			refCol = "error: " + firstLine(res.refErr.Error())
		case len(res.ref) > 0:
			refCol, refSpread = fmt.Sprintf("%.1f", median(res.ref)), fmt.Sprintf("%.2f", spread(res.ref))
			ratio = fmt.Sprintf("%.2f", median(res.ratios))
			lo, hi := slices.Min(res.ratios), slices.Max(res.ratios)
			span = fmt.Sprintf("%.2f–%.2f", lo, hi)
			row.RefMS, row.Ratio, row.Lo, row.Hi = median(res.ref), median(res.ratios), lo, hi
		}
		rows = append(rows, row)
		fmt.Fprintf(tw, "%s\t%.1f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.name, median(res.ours), spread(res.ours), refCol, refSpread, ratio, span, c.target,
			strings.Join(usageColumns(res.oursUse, res.refUse), "\t"))
	}
	tw.Flush()
	if *jsonOut != "" {
		if err := writeRows(*jsonOut, rows); err != nil {
			fmt.Fprintln(os.Stderr, "refbench:", err)
			failed = true
		}
	}
	if *mallocColumns && !*sameMalloc && ref != "" {
		var users []resultRow
		var names []string
		for _, r := range rows {
			if isTrainingCase(r.Name) && r.Ratio != 0 {
				users, names = append(users, r), append(names, r.Name)
			}
		}
		if len(names) > 0 {
			fmt.Fprintln(os.Stderr, "refbench: the training cases again, both sides under -same-malloc…")
			same, err := sameMallocRows(names, *threads, *rounds, *quick)
			if err != nil {
				fmt.Printf("training cases under -same-malloc: error: %v\n", err)
				failed = true
			}
			printMallocColumns(os.Stdout, users, same)
		}
	}
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

// caseResult is one case's timings: every repetition of ours and of the reference, each
// round's ratio of medians, and each repetition's usage where counted.
type caseResult struct {
	ours, ref       []float64
	oursUse, refUse []usage
	ratios          []float64
	err             error // ours failed
	refErr          error // the reference failed (ours are still shown)
}

// runCase times a case in rounds that alternate ours and the reference, each round with
// about reps/rounds repetitions (at least 1), so that a change in the machine's load
// during the case weighs on both sides alike. With -paired, a case that has a pair (the
// training cases) runs paired rounds instead (paired.go), of at least minPairs pairs.
func runCase(c benchCase, ref string, threads, reps, rounds int, refEnv []string) caseResult {
	var res caseResult
	per := max(1, (reps+rounds-1)/rounds)
	hasRef := ref != "" && c.ref != ""
	paired := pairedRounds && c.pair != nil && hasRef
	if paired && reps > 1 { // a -quick run (one repetition) keeps one pair
		per = max(per, minPairs)
	}
	refCase := c.ref
	for r := 0; r < rounds; r++ {
		if hasRef && res.refErr == nil && c.refArg != nil && refCase == c.ref {
			var err error
			if refCase, err = c.refArg(); err != nil {
				res.refErr = err
			}
		}
		var ours, theirs measured
		var err error
		switch {
		case paired && res.refErr == nil:
			ours, theirs, err, res.refErr = pairedRound(c, ref, refCase, threads, per, refEnv)
		default:
			ours, err = c.ours(per)
			if err == nil && hasRef && res.refErr == nil {
				var got refResult
				got, res.refErr = runReference(ref, refCase, threads, per, refEnv)
				theirs = measured{ms: got.MS, use: got.Usage}
			}
		}
		if err != nil {
			res.err = err
			return res
		}
		res.ours = append(res.ours, ours.ms...)
		res.oursUse = append(res.oursUse, ours.use...)
		if res.refErr != nil || len(theirs.ms) == 0 {
			continue
		}
		res.ref = append(res.ref, theirs.ms...)
		res.refUse = append(res.refUse, theirs.use...)
		res.ratios = append(res.ratios, median(ours.ms)/median(theirs.ms))
	}
	if res.refErr != nil {
		res.ref, res.refUse, res.ratios = nil, nil, nil
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

// referenceCmd is reference.py on case name with its last argument reps (a count, or
// "serve"), bounded by refTimeout; cancel frees its context.
func referenceCmd(ref, name string, threads int, reps string, env []string) (cmd *exec.Cmd, cancel context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), refTimeout)
	script := filepath.Join(sourceDir(), "reference.py")
	cmd = exec.CommandContext(ctx, reftest.Python(), script, ref, name, fmt.Sprint(threads), reps)
	cmd.Env = env
	return cmd, cancel
}

func runReference(ref, name string, threads, reps int, env []string) (refResult, error) {
	cmd, cancel := referenceCmd(ref, name, threads, fmt.Sprint(reps), env)
	defer cancel()
	res, err := runScript(cmd)
	if err != nil {
		return res, err
	}
	if len(res.MS) == 0 {
		return res, fmt.Errorf("reference.py %s: no timings", name)
	}
	return res, nil
}

// runScript runs reference.py and decodes its result line.
func runScript(cmd *exec.Cmd) (refResult, error) {
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return refResult{}, fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return refResult{}, err
	}
	res, err := parseResult(out)
	if err != nil {
		return res, fmt.Errorf("reference.py %s: %w", strings.Join(cmd.Args[2:], " "), err)
	}
	return res, nil
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

// timeReps runs fn once to warm up, then reps times, returning milliseconds and usage
// per run.
func timeReps(reps int, fn func() error) (measured, error) {
	if err := fn(); err != nil {
		return measured{}, err
	}
	var m measured
	for i := 0; i < reps; i++ {
		if err := m.timeOnce(fn); err != nil {
			return measured{}, err
		}
	}
	return m, nil
}

// timeOnce runs fn once and appends its milliseconds and usage to m.
func (m *measured) timeOnce(fn func() error) error {
	ru, t := getrusage(), time.Now()
	if err := fn(); err != nil {
		return err
	}
	m.ms = append(m.ms, float64(time.Since(t).Microseconds())/1000)
	m.use = append(m.use, usageBetween(ru, getrusage()))
	return nil
}

// msOnly adapts a case that measures milliseconds (or its own unit) without usage.
func msOnly(f func(reps int) ([]float64, error)) func(int) (measured, error) {
	return func(reps int) (measured, error) {
		ms, err := f(reps)
		return measured{ms: ms}, err
	}
}
