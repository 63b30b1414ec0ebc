package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/plan"
	"github.com/ssdrunner/ssdrunner/runner/sweep"
)

// experimentFlags are the flags of the commands that load an experiment.
type experimentFlags struct {
	vars, varFiles, sets multiFlag
	json                 bool
}

func (f *experimentFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.vars, "var", "set a variable: NAME=VALUE (repeatable)")
	fs.Var(&f.varFiles, "var-file", "read variables from an HCL file (repeatable)")
	fs.Var(&f.sets, "set", "override a key: PATH=VALUE (repeatable)")
	fs.BoolVar(&f.json, "json", false, "machine-readable output")
}

// parseInterspersed parses flags that may come before or after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseArgs parses args as parseInterspersed does. ok is false when the command should
// stop with code: exitOK after -h/--help, exitUsage after a bad flag (fs has said which).
func parseArgs(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, exitOK, false
	case err != nil:
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

func newFlagSet(a *app, name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("runner "+name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: runner %s %s\n\n%s.\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// loadExperiment parses the command line of validate/plan and loads the experiment,
// printing diagnostics. ok is false when the command should stop with code.
func (a *app) loadExperiment(name string, args []string, extra ...func(*flag.FlagSet)) (res *config.Result, f *experimentFlags, code int, ok bool) {
	f = &experimentFlags{}
	fs := newFlagSet(a, name, "FILE [flags]", commandSummary(name))
	f.register(fs)
	for _, x := range extra {
		x(fs)
	}
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return nil, f, code, false
	}
	if len(pos) != 1 {
		fmt.Fprintf(a.stderr, "runner %s: expected one experiment file, got %d arguments\n", name, len(pos))
		fs.Usage()
		return nil, f, exitUsage, false
	}
	res, code, ok = a.load(pos[0], f)
	return res, f, code, ok
}

// load loads an experiment with the command line's variables and overrides, printing
// the diagnostics when it fails.
func (a *app) load(path string, f *experimentFlags) (*config.Result, int, bool) {
	res, diags := config.Load(path, config.Options{Vars: f.vars, VarFiles: f.varFiles, Set: f.sets, Env: a.env})
	if diags.HasErrors() {
		a.printDiagnostics(diags, res, f.json)
		return res, exitError, false
	}
	return res, exitOK, true
}

func commandSummary(name string) string {
	for _, c := range commandList() {
		if c.name == name {
			return strings.ToUpper(c.summary[:1]) + c.summary[1:]
		}
	}
	return ""
}

func (a *app) printDiagnostics(diags hcl.Diagnostics, res *config.Result, asJSON bool) {
	if asJSON {
		a.writeJSON(map[string]any{"valid": false, "diagnostics": config.ToJSON(diags)})
		return
	}
	var files map[string]*hcl.File
	if res != nil {
		files = res.Files
	}
	config.WriteDiagnostics(a.stderr, diags, files)
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	fmt.Fprintf(a.stderr, "\n%d error(s).\n", n)
}

func (a *app) validate(args []string) int {
	res, f, code, ok := a.loadExperiment("validate", args)
	if !ok {
		return code
	}
	var p *sweep.Plan
	if res.Sweep != nil {
		// every trial's experiment is checked too
		if p, ok = a.sweepPlan(res, f); !ok {
			return exitError
		}
	}
	if f.json {
		out := map[string]any{"valid": true, "name": res.Experiment.Name, "files": res.Chain, "diagnostics": []any{}}
		if p != nil {
			out["sweep"] = p.Record()
		}
		return a.writeJSON(out)
	}
	fmt.Fprintf(a.stdout, "%s: valid (experiment %q", res.Path, res.Experiment.Name)
	if len(res.Chain) > 1 {
		fmt.Fprintf(a.stdout, ", inherits %s", strings.Join(res.Chain[:len(res.Chain)-1], ", "))
	}
	fmt.Fprintln(a.stdout, ")")
	if p != nil {
		writeSweepPlan(a.stdout, p)
	}
	return exitOK
}

// writeSweepPlan prints a sweep's trials.
func writeSweepPlan(w io.Writer, p *sweep.Plan) {
	s := p.Sweep
	fmt.Fprintf(w, "sweep %s: %s, %d trials, ranked by %s", s.Name, s.Method, len(p.Trials), sweep.Metric(s.Metric).Label())
	if es := s.EarlyStopping; es != nil {
		fmt.Fprintf(w, ", early stopping: %s", es.Rule)
	}
	fmt.Fprintf(w, "; folder %s\n", p.Dir)
	for _, t := range p.Trials {
		fmt.Fprintf(w, "  %s  %s\n", t.ID, strings.Join(t.Sets(), " "))
	}
}

func (a *app) plan(args []string) int {
	res, f, code, ok := a.loadExperiment("plan", args)
	if !ok {
		return code
	}
	threads := torch.SetThreads(res.Experiment.Training.Threads)
	a.log.Debug().Int("threads", threads).Msg("libtorch threads")
	run, err := build.Build(res, build.Options{Log: a.log, NoOptimizer: true, Ctx: a.ctx})
	if err != nil && a.interrupted("plan") {
		return exitInterrupted
	}
	if err != nil {
		a.printBuildError(res, err, f.json)
		return exitError
	}
	defer run.Close()
	p := plan.Summarize(res, run)
	var sp *sweep.Plan
	if res.Sweep != nil {
		if sp, ok = a.sweepPlan(res, f); !ok {
			return exitError
		}
	}
	if f.json {
		if sp != nil {
			return a.writeJSON(map[string]any{"plan": p, "sweep": sp.Record()})
		}
		return a.writeJSON(p)
	}
	writePlan(a.stdout, p)
	if sp != nil {
		fmt.Fprintln(a.stdout)
		writeSweepPlan(a.stdout, sp)
	}
	return exitOK
}

// printBuildError prints what Build found wrong: each problem as a diagnostic at the key
// it comes from (its place in the experiment file, or the override that set it).
func (a *app) printBuildError(res *config.Result, err error, asJSON bool) {
	var diags hcl.Diagnostics
	for _, e := range flattenErrors(err) {
		var be *build.Error
		if errors.As(e, &be) {
			diags = append(diags, res.DiagAt(be.Path, "Cannot build "+be.Path, be.Err.Error()))
		} else {
			diags = append(diags, res.DiagAt("", "Cannot build the experiment", e.Error()))
		}
	}
	a.printDiagnostics(diags, res, asJSON)
}

// flattenErrors lists the errors joined in err (errors.Join), recursively.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}
