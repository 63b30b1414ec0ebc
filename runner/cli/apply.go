package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/internal/dist"
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
	var df distFlags
	res, f, code, ok := a.loadExperiment("apply", args, sf.register, func(fs *flag.FlagSet) {
		fs.StringVar(&runName, "run-name", "", "name of the run folder (default: the UTC start time)")
		fs.StringVar(&resume, "resume", "", "continue a run: a run folder, a checkpoint file, or auto (the newest run of this experiment)")
		fs.BoolVar(&force, "force", false, "resume even if the experiment differs from the checkpoint's")
		df.register(fs)
	})
	if !ok {
		return code
	}
	if res.Sweep != nil {
		if runName != "" || resume != "" || force {
			fmt.Fprintf(a.stderr, "runner apply: %s has a sweep: its trials live in the sweep folder and resume by running the same command again (no --run-name, --resume or --force)\n", res.Path)
			return exitUsage
		}
		if df.nproc != 1 || df.nnodes != 1 {
			fmt.Fprintf(a.stderr, "runner apply: %s has a sweep: its trials run one process each (--parallel N), not data-parallel (--nproc, --nnodes)\n", res.Path)
			return exitUsage
		}
		return a.applySweep(res, f, &sf)
	}
	if sf.trial != "" || sf.parallel != 1 {
		fmt.Fprintf(a.stderr, "runner apply: --trial and --parallel are for experiments with a sweep block; %s has none\n", res.Path)
		return exitUsage
	}
	// data-parallel: a rank (torchrun's variables), or the supervisor of this machine's ranks
	rk, isRank, err := rankFromEnv(a.env)
	if err != nil {
		fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
		return exitUsage
	}
	launcher := df.nproc != 1 || df.nnodes != 1
	if isRank && launcher && envOr(a.env, supervisedEnv, "") == "" {
		fmt.Fprintf(a.stderr, "runner apply: WORLD_SIZE is set (this process is a rank of a job a launcher started): --nproc and --nnodes start ranks, they do not go with it\n")
		return exitUsage
	}
	if !isRank && launcher {
		if err := df.check(); err != nil {
			fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
			return exitUsage
		}
		return a.supervise(&df)
	}
	var group *dist.Group
	rank := 0
	if isRank && rk.world > 1 {
		res.Experiment.Training.Threads = threadShare(res.Experiment.Training.Threads, rk.localWorld)
		if group, err = a.joinGroup(rk, &df); err != nil {
			fmt.Fprintf(a.stderr, "runner apply: %v\n", err)
			if errors.Is(err, context.Canceled) {
				return exitInterrupted // Ctrl-C before the job started: nothing was trained or written
			}
			return exitError
		}
		defer group.Close()
		rank = rk.rank
		a.log = a.log.With().Int("rank", rank).Logger()
		a.log.Info().Int("world", rk.world).Int("threads", res.Experiment.Training.Threads).Msg("joined the data-parallel job")
		if rank != 0 && a.logLevel > zerolog.DebugLevel && a.logLevel < zerolog.WarnLevel {
			// rank 0 logs the job's progress; the others their warnings and errors (all with
			// --log-level debug)
			a.logLevel = zerolog.WarnLevel
			a.log = a.log.Level(a.logLevel)
		}
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
	console := a.stdout
	if rank != 0 {
		console = io.Discard // rank 0 prints the plan, the progress and the summary
	}
	if !f.json {
		writePlan(console, plan.Summarize(res, run))
		fmt.Fprintln(console)
	}
	sum, err := train.Apply(a.ctx, res, run, train.Options{
		Log: a.log, LogWriter: a.logW, LogLevel: a.logLevel, Console: console, Terminal: isTerminal(a.stdout) && !f.json && rank == 0,
		RunName: runName, Resume: resume, Force: force, Dist: group,
	})
	if f.json && sum != nil && rank == 0 {
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
