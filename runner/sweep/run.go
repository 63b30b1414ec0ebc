package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// ErrInterrupted is returned when a sweep or trial stopped on request; running the same
// command again continues it.
var ErrInterrupted = train.ErrInterrupted

// TrialOptions configure the training of one trial in this process.
type TrialOptions struct {
	Log       zerolog.Logger
	LogWriter io.Writer
	LogLevel  zerolog.Level
	// Console receives the trial's progress and tables.
	Console  io.Writer
	Terminal bool
}

// RunTrial trains trial i of the plan in this process, in its run folder under the sweep
// folder: a trial already done is left alone, one with a checkpoint is resumed from it, and
// a folder without a checkpoint (a trial killed before its first one) starts afresh. The
// early-stopping rule judges the trial at each validation, and trial.json records its
// status and every decision. The sweep folder must have been prepared (Plan.Prepare).
func RunTrial(ctx context.Context, p *Plan, i int, o TrialOptions) (*State, error) {
	t := p.Trials[i]
	dir := p.TrialDir(i)
	st, err := ReadState(dir)
	if err != nil {
		return nil, err
	}
	if Done(st.Status) {
		o.Log.Info().Str("trial", t.ID).Str("status", st.Status).Msg("trial already done")
		return st, nil
	}
	resume := hasCheckpoint(dir)
	if !resume {
		// nothing there can be resumed: a fresh start (the folder is the sweep's own; the
		// console log of a parallel sweep's child is kept)
		if err := clearRun(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	st.ID, st.Index, st.Overrides, st.Values = t.ID, i, t.Sets(), t.Values
	st.Status, st.Error, st.Host, st.PID = StatusRunning, "", host, os.Getpid()
	if st.Started.IsZero() {
		st.Started = time.Now().UTC()
	}
	st.Sessions++
	if err := st.write(dir); err != nil {
		return nil, err
	}

	res := p.Results[i]
	e := &res.Experiment
	opts := train.Options{Log: o.Log, LogWriter: o.LogWriter, LogLevel: o.LogLevel, Console: o.Console, Terminal: o.Terminal}
	if resume {
		opts.Resume = dir
	} else {
		opts.Dir = dir
	}
	var mu sync.Mutex // OnValidation runs on the training goroutine; st is written here too
	if es := p.Sweep.EarlyStopping; es != nil {
		sp := &stopper{es: es, metric: Metric(p.Sweep.Metric), dir: p.Dir, self: t.ID, epochs: e.Training.Epochs}
		opts.OnValidation = func(v train.Validation, h *train.History) (bool, string) {
			own := make([]point, len(h.Validations))
			for k, x := range h.Validations {
				own[k] = point{Epoch: x.Epoch, Loss: x.Loss, MAP: x.MAP}
			}
			d := sp.judge(v.Epoch, own)
			if d == nil {
				return false, ""
			}
			mu.Lock()
			defer mu.Unlock()
			st.Decisions = append(st.Decisions, *d)
			if d.Stop {
				st.Stop = d
			}
			if err := st.write(dir); err != nil {
				o.Log.Warn().Err(err).Msg("cannot write trial.json")
			}
			o.Log.Info().Str("trial", t.ID).Int("epoch", d.Epoch).Bool("stop", d.Stop).Str("reason", d.Reason).Msg("early stopping")
			return d.Stop, d.Reason
		}
	}

	torch.SetThreads(e.Training.Threads)
	run, err := build.Build(res, build.Options{Log: o.Log, Ctx: ctx})
	if err != nil && ctx.Err() != nil { // Ctrl-C while the datasets were read
		st.Status = StatusInterrupted
		if werr := st.write(dir); werr != nil {
			return st, werr
		}
		return st, ErrInterrupted
	}
	if err != nil {
		st.Status, st.Error = StatusFailed, err.Error()
		if werr := st.write(dir); werr != nil {
			return st, errors.Join(err, werr)
		}
		return st, fmt.Errorf("%s: %w", t.ID, err)
	}
	defer run.Close()
	sum, err := train.Apply(ctx, res, run, opts)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case errors.Is(err, train.ErrInterrupted):
		st.Status = StatusInterrupted
	case err != nil:
		st.Status, st.Error = StatusFailed, err.Error()
	case sum != nil && sum.Status == "stopped":
		st.Status = StatusStopped
	default:
		st.Status = StatusFinished
	}
	if werr := st.write(dir); werr != nil && err == nil {
		err = werr
	}
	if err != nil && !errors.Is(err, train.ErrInterrupted) {
		err = fmt.Errorf("%s: %w", t.ID, err)
	}
	return st, err
}

// clearRun removes what a run that never reached a checkpoint left in its folder.
func clearRun(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == consoleLog {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// consoleLog is a child trial's stdout and stderr, in its folder.
const consoleLog = "console.log"

func hasCheckpoint(dir string) bool {
	pts, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*.pt"))
	return len(pts) > 0
}

// RunOptions configure a whole sweep.
type RunOptions struct {
	// Parallel is how many trials run at once: 1 trains them one after another in this
	// process; more start child processes (Command), each with Threads/Parallel threads.
	Parallel int
	// Threads is the cores the sweep may use (0: every core of the machine).
	Threads int
	// Command returns the child process that runs trial i with the given thread count (the
	// runner binary with `apply FILE --trial ID`); needed when Parallel > 1.
	Command func(ctx context.Context, i, threads int) *exec.Cmd
	Trial   TrialOptions
	// Out receives one line per trial started and ended, and the ranking at the end.
	Out io.Writer
}

// Outcome is what a sweep invocation did.
type Outcome struct {
	Ran, Skipped, Failed int
	Report               *Report
}

// Threads returns the thread count of each of parallel trials sharing total cores (0:
// the machine's), refusing a split that would oversubscribe them.
func Threads(total, parallel int) (int, error) {
	if total <= 0 {
		total = runtime.NumCPU()
	}
	if parallel < 1 {
		return 0, fmt.Errorf("--parallel %d: at least 1", parallel)
	}
	if parallel > total {
		return 0, fmt.Errorf("--parallel %d would run more trials than the %d cores the sweep may use (training.threads or the machine's): at most --parallel %d", parallel, total, total)
	}
	return total / parallel, nil
}

// Run runs every trial of the plan that is not done yet, then writes the sweep report.
// On ctx's cancellation (Ctrl-C) every running trial writes its checkpoint and stops, and
// Run returns ErrInterrupted: the same command continues the sweep.
func Run(ctx context.Context, p *Plan, o RunOptions) (*Outcome, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	per, err := Threads(o.Threads, max(o.Parallel, 1))
	if err != nil {
		return nil, err
	}
	if err := p.Prepare(); err != nil {
		return nil, err
	}
	out := &Outcome{}
	var todo []int
	for i := range p.Trials {
		st, err := ReadState(p.TrialDir(i))
		if err != nil {
			return nil, err
		}
		if Done(st.Status) {
			out.Skipped++
			continue
		}
		todo = append(todo, i)
	}
	fmt.Fprintf(o.Out, "Sweep %s: %d trials (%d done earlier, %d to run), %s, ranked by %s; folder %s\n",
		p.Sweep.Name, len(p.Trials), out.Skipped, len(todo), p.Sweep.Method, Metric(p.Sweep.Metric).Label(), p.Dir)
	var runErr error
	if o.Parallel <= 1 {
		runErr = runSequential(ctx, p, todo, o, out)
	} else {
		if o.Command == nil {
			return nil, errors.New("sweep: parallel trials need a command to start")
		}
		runErr = runParallel(ctx, p, todo, per, o, out)
	}
	rep, err := WriteReport(p.Dir)
	if err != nil {
		return out, errors.Join(runErr, fmt.Errorf("sweep report: %w", err))
	}
	out.Report = rep
	return out, runErr
}

func trialLine(p *Plan, i int) string {
	return fmt.Sprintf("%s (%s)", p.Trials[i].ID, strings.Join(p.Trials[i].Sets(), ", "))
}

func runSequential(ctx context.Context, p *Plan, todo []int, o RunOptions, out *Outcome) error {
	for n, i := range todo {
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		fmt.Fprintf(o.Out, "\n== %s: trial %d of %d to run\n", trialLine(p, i), n+1, len(todo))
		st, err := RunTrial(ctx, p, i, o.Trial)
		out.Ran++
		if errors.Is(err, train.ErrInterrupted) {
			fmt.Fprintf(o.Out, "%s interrupted: %v\n", p.Trials[i].ID, err)
			return ErrInterrupted
		}
		if err != nil {
			out.Failed++
			fmt.Fprintf(o.Out, "%s failed: %v\n", p.Trials[i].ID, err)
			continue
		}
		fmt.Fprintf(o.Out, "%s %s%s\n", p.Trials[i].ID, st.Status, stopNote(st))
	}
	return nil
}

func stopNote(st *State) string {
	if st.Stop != nil {
		return ": " + st.Stop.Reason
	}
	return ""
}

// runParallel runs the trials as child processes, parallel at a time. Each child gets
// the sweep's share of threads and its own process group, so that a terminal's Ctrl-C
// reaches only this process, which then asks each child once (SIGTERM) to checkpoint and
// stop.
func runParallel(ctx context.Context, p *Plan, todo []int, threads int, o RunOptions, out *Outcome) error {
	jobs := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	interrupted := false
	for w := 0; w < o.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				mu.Lock()
				fmt.Fprintf(o.Out, "start %s with %d thread(s)\n", trialLine(p, i), threads)
				mu.Unlock()
				err := runChild(ctx, p, i, threads, o)
				mu.Lock()
				out.Ran++
				st, serr := ReadState(p.TrialDir(i))
				switch {
				case ctx.Err() != nil && (st == nil || !Done(st.Status)):
					interrupted = true
					fmt.Fprintf(o.Out, "%s interrupted\n", p.Trials[i].ID)
				case serr != nil:
					out.Failed++
					fmt.Fprintf(o.Out, "%s: %v\n", p.Trials[i].ID, serr)
				case err != nil && st.Status != StatusFailed && !Done(st.Status):
					out.Failed++
					fmt.Fprintf(o.Out, "%s failed: %v (see %s)\n", p.Trials[i].ID, err, filepath.Join(p.TrialDir(i), consoleLog))
				case st.Status == StatusFailed:
					out.Failed++
					fmt.Fprintf(o.Out, "%s failed: %s\n", p.Trials[i].ID, st.Error)
				default:
					fmt.Fprintf(o.Out, "%s %s%s\n", p.Trials[i].ID, st.Status, stopNote(st))
				}
				mu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if interrupted || ctx.Err() != nil {
		return ErrInterrupted
	}
	return nil
}

// runChild runs trial i in a child process, its output in the trial folder's console.log.
func runChild(ctx context.Context, p *Plan, i, threads int, o RunOptions) error {
	dir := p.TrialDir(i)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, consoleLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := o.Command(context.WithoutCancel(ctx), i, threads)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM) // once: the child checkpoints and exits
		return <-done
	}
}
