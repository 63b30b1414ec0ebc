// Package cli is the `runner` command line: it parses flags, sets up logging and threads,
// and dispatches to the subcommands.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rs/zerolog"

	_ "github.com/ssdrunner/ssdrunner/components/all" // registrations
	"github.com/ssdrunner/ssdrunner/registry"
)

// exit codes
const (
	exitOK    = 0
	exitError = 1 // the experiment or data is wrong
	exitUsage = 2 // the command line is wrong
	// exitInterrupted is the shell's code for a command stopped by SIGINT (128 + 2).
	exitInterrupted = 130
)

type command struct {
	name, args, summary string
	run                 func(a *app, args []string) int
}

// commandList returns the subcommands (a function, not a variable: the commands refer
// back to it for their help text).
func commandList() []command {
	return []command{
		{"validate", "FILE", "check an experiment file (syntax, structure, types, component names and options, overrides)", (*app).validate},
		{"plan", "FILE", "resolve the whole experiment (model, anchors, datasets, groups, schedule) without training", (*app).plan},
		{"apply", "FILE", "train: validate every N epochs, write the run folder (metrics, charts, checkpoints); --resume continues a run; a sweep runs its trials (--parallel N)", (*app).apply},
		{"report", "RUN_DIR…", "write a run's report: report.html (self-contained), report.md and every chart, PNG and SVG", (*app).report},
		{"compare", "RUN_DIR|SWEEP_DIR…", "compare runs: per-class AP, mAP, losses and lr overlaid, the experiment keys that differ (--out DIR)", (*app).compare},
		{"sweep", "emit | report", "write the Slurm or Nomad job of a sweep (emit --to slurm|nomad FILE); rewrite a sweep folder's report", (*app).sweepCmd},
		{"eval", "[EXPERIMENT|RUN_DIR]", "evaluate a checkpoint on a dataset as eval_ssd.py: per-class AP and mAP, det_test_<class>.txt, results.json, charts", (*app).eval},
		{"predict", "--checkpoint F INPUT…", "detect objects in images, folders and videos: annotated copies, detections as JSON and CSV", (*app).predict},
		{"fmt", "[--check] [PATH…]", "rewrite experiment files in canonical HCL style (default: experiments/)", (*app).fmt},
		{"list", "[KIND]", "list registered components with their options and defaults (KIND model: the built-in bases)", (*app).list},
		{"launch", "emit --to slurm FILE", "write the batch script of a multi-machine data-parallel training (srun, torchrun-style ranks)", (*app).launch},
		{"export", "onnx|pth --checkpoint F", "write a trained model as an ONNX graph (scores and decoded boxes) or a PyTorch state_dict for the reference project", (*app).exportCmd},
		{"data", "check|gen-shapes|download", "check every annotation of an experiment's datasets; write the synthetic dataset as a VOC folder; download Open Images classes", (*app).data},
	}
}

// app carries what every subcommand shares.
type app struct {
	ctx            context.Context
	stdout, stderr io.Writer
	env            []string
	log            zerolog.Logger
	logW           io.Writer // where log writes (apply adds the run's JSON log beside it)
	logLevel       zerolog.Level
	jsonOut        bool
	args           []string // the whole command line (a data-parallel supervisor starts its ranks with it)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `runner — train and evaluate SSD object detectors from HCL experiment files.

Usage:
  runner [global flags] COMMAND [flags] [args]

Commands:
`)
	for _, c := range commandList() {
		fmt.Fprintf(w, "  %-9s %-27s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, `
Global flags (before the command):
  --log-format console|json   log format on stderr (default console; env RUNNER_LOG_FORMAT)
  --log-level LEVEL           debug, info, warn, error (default info; env RUNNER_LOG_LEVEL)

Environment: RUNNER_MALLOC=hugepages (default: transparent huge pages for tensors of
2 MiB or more, freed memory kept in malloc's heap: fewer page faults in training steps)
| system (libtorch's allocator, glibc's defaults).
RUNNER_OPEN_IMAGES_BASE_URL, RUNNER_OPEN_IMAGES_IMAGES_URL: mirrors for 'data download
open-images' (its --base-url and --images-url).

Experiment flags (validate, plan, apply, data check, eval, predict):
  -var NAME=VALUE             set a variable (repeatable)
  -var-file FILE              read variables from an HCL file (repeatable)
  --set PATH=VALUE            override a key, e.g. --set training.epochs=10 (repeatable)
  --json                      machine-readable output

Sweeps: apply on a file with a sweep block runs its trials, each its own run folder,
then writes the ranked report; --parallel N runs N at once (cores split), --trial ID one
alone; the same command again continues the sweep. runner sweep emit --to slurm|nomad
writes the cluster job, runner sweep report DIR rewrites the report.

Overrides apply in this order: defaults, experiment files (bases first), environment
(RUNNER_<PATH> with "__" between segments, e.g. RUNNER_TRAINING__EPOCHS=10), --set.
Variables: default, RUNNER_VAR_<name>, -var-file, -var.

Run 'runner COMMAND --help' for a command's flags.
`)
}

// Run executes the command line args and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env []string) int {
	global := flag.NewFlagSet("runner", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { usage(stderr) }
	logFormat := global.String("log-format", envOr(env, "RUNNER_LOG_FORMAT", "console"), "console | json")
	logLevel := global.String("log-level", envOr(env, "RUNNER_LOG_LEVEL", "info"), "debug | info | warn | error")
	help := global.Bool("help", false, "show help")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	rest := global.Args()
	if *help || len(rest) == 0 || rest[0] == "help" {
		usage(stdout)
		if len(rest) == 0 && !*help {
			return exitUsage
		}
		return exitOK
	}
	log, logW, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return exitUsage
	}
	if m := envOr(env, "RUNNER_MALLOC", "hugepages"); m != "hugepages" && m != "system" {
		fmt.Fprintf(stderr, "runner: RUNNER_MALLOC=%q: want hugepages or system\n", m)
		return exitUsage
	}
	a := &app{ctx: ctx, stdout: stdout, stderr: stderr, env: env, log: log, logW: logW, logLevel: log.GetLevel(), args: args}
	for _, c := range commandList() {
		if c.name == rest[0] {
			return c.run(a, rest[1:])
		}
	}
	names := make([]string, len(commandList()))
	for i, c := range commandList() {
		names[i] = c.name
	}
	msg := fmt.Sprintf("runner: unknown command %q", rest[0])
	if s := registry.Suggest(rest[0], names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintf(stderr, "%s (commands: %s)\n", msg, strings.Join(names, ", "))
	return exitUsage
}

// newLogger builds the stderr logger: human console output or JSON lines. It returns the
// writer it writes to as well.
func newLogger(w io.Writer, format, level string) (zerolog.Logger, io.Writer, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), nil, fmt.Errorf("unknown log level %q (debug, info, warn, error)", level)
	}
	switch format {
	case "json":
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), w, nil
	case "console":
		cw := zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05", NoColor: !isTerminal(w)}
		return zerolog.New(cw).Level(lvl).With().Timestamp().Logger(), cw, nil
	}
	return zerolog.Nop(), nil, fmt.Errorf("unknown log format %q (console, json)", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func envOr(env []string, key, def string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return def
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (a *app) writeJSON(v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(a.stderr, "runner: %v\n", err)
		return exitError
	}
	return exitOK
}

func sortedKinds() []registry.Catalog {
	kinds := registry.Kinds()
	sort.Slice(kinds, func(i, j int) bool { return kinds[i].Kind() < kinds[j].Kind() })
	return kinds
}

// interrupted reports whether the command's context was cancelled (Ctrl-C or SIGTERM) and,
// if so, says so on stderr: the caller then returns exitInterrupted, whatever error the
// cancelled work returned.
func (a *app) interrupted(cmd string) bool {
	if a.ctx.Err() == nil {
		return false
	}
	fmt.Fprintf(a.stderr, "runner %s: interrupted\n", cmd)
	return true
}
