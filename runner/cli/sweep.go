package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/sweep"
)

// sweepFlags are apply's flags for an experiment with a sweep block.
type sweepFlags struct {
	parallel int
	trial    string
}

func (s *sweepFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&s.parallel, "parallel", 1, "sweeps: run N trials at once as child processes, the cores split between them")
	fs.StringVar(&s.trial, "trial", "", "sweeps: run only this trial (its index or id, e.g. 3 or trial-003), as a cluster array task does")
}

// sweepPlan expands the experiment's sweep into its trials with the command line's
// overrides, printing the diagnostics when that fails (ok false).
func (a *app) sweepPlan(res *config.Result, f *experimentFlags) (p *sweep.Plan, ok bool) {
	p, diags := sweep.NewPlan(res, config.Options{Vars: f.vars, VarFiles: f.varFiles, Set: f.sets, Env: a.env})
	if diags.HasErrors() {
		a.printDiagnostics(diags, res, f.json)
		return nil, false
	}
	return p, true
}

// applySweep runs an experiment's sweep: every trial not done yet, in this process or
// --parallel child processes, then the sweep report; or, with --trial, that trial alone.
func (a *app) applySweep(res *config.Result, f *experimentFlags, sf *sweepFlags) int {
	p, ok := a.sweepPlan(res, f)
	if !ok {
		return exitError
	}
	to := sweep.TrialOptions{Log: a.log, LogWriter: a.logW, LogLevel: a.logLevel, Console: a.stdout, Terminal: isTerminal(a.stdout) && !f.json}
	if sf.trial != "" {
		i, err := p.Trial(sf.trial)
		if err != nil {
			fmt.Fprintf(a.stderr, "runner apply: --trial: %v\n", err)
			return exitUsage
		}
		if err := p.Prepare(); err != nil {
			fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
			return exitError
		}
		st, err := sweep.RunTrial(a.ctx, p, i, to)
		if st != nil {
			fmt.Fprintf(a.stdout, "%s %s\n", p.Trials[i].ID, st.Status)
		}
		if errors.Is(err, sweep.ErrInterrupted) {
			fmt.Fprintf(a.stderr, "runner apply: %s interrupted; run the same command again to continue it\n", p.Trials[i].ID)
			return exitInterrupted
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
			return exitError
		}
		return exitOK
	}
	exe, err := os.Executable()
	if err != nil && sf.parallel > 1 {
		fmt.Fprintf(a.stderr, "runner apply: --parallel: cannot find this program: %v\n", err)
		return exitError
	}
	child := func(ctx context.Context, i, threads int) *exec.Cmd {
		args := []string{"--log-level", a.logLevel.String(), "apply", res.Path, "--trial", p.Trials[i].ID}
		for _, v := range f.vars {
			args = append(args, "-var", v)
		}
		for _, v := range f.varFiles {
			args = append(args, "-var-file", v)
		}
		for _, s := range f.sets {
			args = append(args, "--set", s)
		}
		// the trial's share of the cores, for libtorch and for the loader's workers
		args = append(args, "--set", "training.threads="+strconv.Itoa(threads), "--set", "data.workers="+strconv.Itoa(threads))
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = a.env
		return cmd
	}
	out, err := sweep.Run(a.ctx, p, sweep.RunOptions{Parallel: sf.parallel, Threads: res.Experiment.Training.Threads,
		Command: child, Trial: to, Out: a.stdout})
	if out != nil && out.Report != nil {
		if f.json {
			a.writeJSON(out.Report)
		} else {
			writeRanking(a, out.Report)
		}
	}
	if errors.Is(err, sweep.ErrInterrupted) {
		fmt.Fprintf(a.stderr, "runner apply: sweep interrupted; every running trial kept a checkpoint: run the same command again to continue\n")
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner apply: %s: %v\n", res.Path, err)
		return exitError
	}
	if out.Report != nil && out.Report.Best() == nil && out.Failed > 0 {
		fmt.Fprintf(a.stderr, "runner apply: every trial failed\n")
		return exitError
	}
	return exitOK
}

// writeRanking prints the sweep's ranking and where its report is.
func writeRanking(a *app, r *sweep.Report) {
	m := sweep.Metric(r.Record.Metric)
	fmt.Fprintf(a.stdout, "\nSweep %s: trials ranked by %s\n", r.Record.Name, m.Label())
	for _, row := range r.Rows {
		var vals []string
		for _, p := range r.Record.Params {
			vals = append(vals, p.Key+"="+row.Values[p.Key])
		}
		metric := "-"
		if row.HasMetric {
			metric = fmt.Sprintf("%.4f (epoch %d)", row.Metric, row.MetricEpoch)
		}
		rank := "-"
		if row.Rank > 0 {
			rank = strconv.Itoa(row.Rank)
		}
		fmt.Fprintf(a.stdout, "  %3s  %s  %-11s %-18s %s\n", rank, row.ID, row.Status, metric, strings.Join(vals, " "))
	}
	fmt.Fprintf(a.stdout, "  report: %s\n", filepath.Join(r.Dir, "report.html"))
}

// sweepCmd is `runner sweep emit|report`.
func (a *app) sweepCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(a.stderr, `Usage:
  runner sweep emit --to slurm|nomad [--out FILE] [flags] SWEEP_FILE
      write the cluster job that runs the sweep's trials (a Slurm array, one task per
      trial, then the report; or a Nomad batch job, one task group per trial)
  runner sweep report SWEEP_DIR
      (re)write the sweep report of a sweep folder: report.html, report.md, ranking.csv, charts/
`)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	switch args[0] {
	case "emit":
		return a.sweepEmit(args[1:])
	case "report":
		return a.sweepReport(args[1:])
	}
	fmt.Fprintf(a.stderr, "runner sweep: unknown subcommand %q (emit, report)\n", args[0])
	return exitUsage
}

func (a *app) sweepReport(args []string) int {
	fs := newFlagSet(a, "sweep report", "SWEEP_DIR", "(Re)write the sweep report of a sweep folder")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(a.stderr, "runner sweep report: expected one sweep folder, got %d arguments\n", len(pos))
		return exitUsage
	}
	rep, err := sweep.WriteReport(pos[0])
	if err != nil {
		fmt.Fprintf(a.stderr, "runner sweep report: %v\n", err)
		return exitError
	}
	writeRanking(a, rep)
	return exitOK
}

func (a *app) sweepEmit(args []string) int {
	var to, outPath, runner, workdir string
	var cpus int
	var extra multiFlag
	res, f, code, ok := a.loadExperiment("sweep emit", args, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the scheduler: slurm or nomad")
		fs.StringVar(&outPath, "out", "", "write the job to this file (default: stdout)")
		fs.StringVar(&runner, "runner", "runner", "the runner command on the cluster's nodes")
		fs.StringVar(&workdir, "workdir", "", "the folder trials run in on the nodes, shared by every node (default: the current folder)")
		fs.IntVar(&cpus, "cpus", 0, "cores per trial (default: training.threads, else 4)")
		fs.Var(&extra, "directive", "an extra scheduler line, e.g. --directive '#SBATCH --partition=gpu' or, for nomad, a line of the task's resources block (repeatable)")
	})
	if !ok {
		return code
	}
	if res.Sweep == nil {
		fmt.Fprintf(a.stderr, "runner sweep emit: %s has no sweep block\n", res.Path)
		return exitError
	}
	p, ok := a.sweepPlan(res, f)
	if !ok {
		return exitError
	}
	if workdir == "" {
		wd, err := os.Getwd()
		if err != nil {
			fmt.Fprintf(a.stderr, "runner sweep emit: %v\n", err)
			return exitError
		}
		workdir = wd
	}
	if cpus == 0 {
		cpus = res.Experiment.Training.Threads
		if cpus == 0 {
			cpus = 4
		}
	}
	spec := sweep.JobSpec{Runner: runner, Workdir: workdir, CPUs: cpus, Vars: f.vars, VarFiles: f.varFiles, Sets: f.sets, Directives: extra}
	var text string
	var err error
	switch to {
	case "slurm":
		text, err = sweep.EmitSlurm(p, spec)
	case "nomad":
		text, err = sweep.EmitNomad(p, spec)
	default:
		fmt.Fprintf(a.stderr, "runner sweep emit: --to %q: want slurm or nomad\n", to)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner sweep emit: %v\n", err)
		return exitError
	}
	if outPath == "" {
		fmt.Fprint(a.stdout, text)
		return exitOK
	}
	if err := fsutil.WriteBytesAtomic(outPath, 0o644, []byte(text)); err != nil {
		fmt.Fprintf(a.stderr, "runner sweep emit: %v\n", err)
		return exitError
	}
	fmt.Fprintf(a.stderr, "wrote %s (%d trials, sweep folder %s)\n", outPath, len(p.Trials), p.Dir)
	return exitOK
}
