package cli

import (
	"errors"
	"flag"
	"fmt"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/plan"
	"github.com/ssdrunner/ssdrunner/runner/train"
)

// apply trains an experiment: the plan summary, then the loop (runner/train).
func (a *app) apply(args []string) int {
	var runName, resume string
	var force bool
	var sf sweepFlags
	res, f, code, ok := a.loadExperiment("apply", args, sf.register, func(fs *flag.FlagSet) {
		fs.StringVar(&runName, "run-name", "", "name of the run folder (default: the UTC start time)")
		fs.StringVar(&resume, "resume", "", "continue a run: a run folder, a checkpoint file, or auto (the newest run of this experiment)")
		fs.BoolVar(&force, "force", false, "resume even if the experiment differs from the checkpoint's")
	})
	if !ok {
		return code
	}
	if res.Sweep != nil {
		if runName != "" || resume != "" || force {
			fmt.Fprintf(a.stderr, "runner apply: %s has a sweep: its trials live in the sweep folder and resume by running the same command again (no --run-name, --resume or --force)\n", res.Path)
			return exitUsage
		}
		return a.applySweep(res, f, &sf)
	}
	if sf.trial != "" || sf.parallel != 1 {
		fmt.Fprintf(a.stderr, "runner apply: --trial and --parallel are for experiments with a sweep block; %s has none\n", res.Path)
		return exitUsage
	}
	threads := torch.SetThreads(res.Experiment.Training.Threads)
	a.log.Debug().Int("threads", threads).Msg("libtorch threads")
	run, err := build.Build(res, build.Options{Log: a.log, Ctx: a.ctx})
	if err != nil && a.interrupted("apply") {
		return exitInterrupted
	}
	if err != nil {
		a.printBuildError(res, err, f.json)
		return exitError
	}
	defer run.Close()
	if !f.json {
		writePlan(a.stdout, plan.Summarize(res, run))
		fmt.Fprintln(a.stdout)
	}
	sum, err := train.Apply(a.ctx, res, run, train.Options{
		Log: a.log, LogWriter: a.logW, LogLevel: a.logLevel, Console: a.stdout, Terminal: isTerminal(a.stdout) && !f.json,
		RunName: runName, Resume: resume, Force: force,
	})
	if f.json && sum != nil {
		a.writeJSON(sum)
	}
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
		return exitInterrupted
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "runner apply: %s: %v\n", res.Path, err)
		return exitError
	}
	return exitOK
}
