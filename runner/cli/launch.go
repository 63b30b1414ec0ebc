package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/ssdrunner/ssdrunner/internal/dist"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

const launchUsage = `Usage: runner launch emit --to slurm FILE --nodes M --tasks-per-node N [flags] [-- APPLY FLAGS]

Writes the batch script that runs the data-parallel training of an experiment on a
cluster: M machines with N ranks each (runner apply as torchrun-style ranks).
Submit it with: sbatch SCRIPT. Run 'runner launch emit --help' for the flags.
`

// launch is `runner launch emit`: batch scripts for multi-machine data-parallel training.
func (a *app) launch(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, launchUsage)
		return exitUsage
	}
	switch args[0] {
	case "emit":
		return a.launchEmit(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(a.stdout, launchUsage)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "runner launch: unknown action %q\n%s", args[0], launchUsage)
	return exitUsage
}

// ddpSlurmJob is what the Slurm template needs.
type ddpSlurmJob struct {
	Command             string // the runner command line that emitted it
	Name                string
	Nodes, TasksPerNode int
	CPUsPerTask         int
	Time, Partition     string
	Chdir               string
	Runner, Experiment  string
	Args                string // quoted apply arguments
	Port                int
	Timeout             string
}

var ddpSlurmTemplate = template.Must(template.New("slurm").Parse(`#!/usr/bin/env bash
# Data-parallel training of {{.Name}} on {{.Nodes}} machine(s) x {{.TasksPerNode}} rank(s), written by
#   {{.Command}}
# Submit with: sbatch THIS_FILE. Every task is one rank of runner apply: Slurm starts them
# (srun), rank 0 (the first task of the first node) serves the rendezvous, only rank 0
# writes the run folder, and a rank that dies stops the others within --dist-timeout
# ({{.Timeout}}); then resubmit with --resume auto (or the run folder) to continue.
#SBATCH --job-name=ddp-{{.Name}}
#SBATCH --nodes={{.Nodes}}
#SBATCH --ntasks-per-node={{.TasksPerNode}}
{{- if .CPUsPerTask}}
#SBATCH --cpus-per-task={{.CPUsPerTask}}
{{- end}}
{{- if .Time}}
#SBATCH --time={{.Time}}
{{- end}}
{{- if .Partition}}
#SBATCH --partition={{.Partition}}
{{- end}}
#SBATCH --chdir={{.Chdir}}
#SBATCH --output=ddp-{{.Name}}-%j.out
set -euo pipefail

# The rendezvous: the allocation's first node, a port derived from the job id (several jobs
# may share a node). Every node must reach it (GLOO_SOCKET_IFNAME picks gloo's interface).
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-$(( {{.Port}} + SLURM_JOB_ID % 1000 ))}
export MASTER_ADDR MASTER_PORT
# Each task uses the CPUs Slurm gives it (--cpus-per-task) as libtorch threads.
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK OPENBLAS_NUM_THREADS=$SLURM_CPUS_PER_TASK
fi

# torchrun's variables per task, from Slurm's; --kill-on-bad-exit ends the step when a rank fails.
srun --kill-on-bad-exit=1 bash -c '
  export WORLD_SIZE=$SLURM_NTASKS RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID
  exec "$0" "$@"' {{.Runner}} apply {{.Experiment}} --dist-timeout {{.Timeout}}{{.Args}}
`))

var ddpSlurmName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// launchEmit writes the batch script.
func (a *app) launchEmit(args []string) int {
	f := &experimentFlags{}
	fs := newFlagSet(a, "launch emit", "--to slurm FILE --nodes M --tasks-per-node N [flags] [-- APPLY FLAGS]",
		"Write the batch script of a multi-machine data-parallel training")
	f.register(fs)
	to := fs.String("to", "", "the scheduler: slurm")
	nodes := fs.Int("nodes", 1, "machines")
	tasks := fs.Int("tasks-per-node", 1, "ranks per machine")
	cpus := fs.Int("cpus-per-task", 0, "CPUs (libtorch threads) per rank (0: Slurm's default)")
	wall := fs.String("time", "", "Slurm's --time limit (e.g. 2-00:00:00)")
	partition := fs.String("partition", "", "Slurm partition")
	runner := fs.String("runner", "", "the runner binary on the machines (default: this one's absolute path)")
	port := fs.Int("port", 29500, "base rendezvous port (the job id modulo 1000 is added)")
	timeout := fs.Duration("dist-timeout", 0, "runner apply --dist-timeout (default: apply's)")
	out := fs.String("out", "", "write the script here (default: stdout)")
	pos, code, ok := parseArgs(fs, args)
	if !ok {
		return code
	}
	// the experiment file, then apply's own flags (after --)
	var applyArgs []string
	if i := launchIndex(args, "--"); i >= 0 {
		applyArgs = args[i+1:]
		pos = pos[:len(pos)-len(applyArgs)]
	}
	var problems []string
	if *to != "slurm" {
		problems = append(problems, fmt.Sprintf("--to %q: the scheduler this writes for is slurm", *to))
	}
	if *nodes < 1 || *tasks < 1 {
		problems = append(problems, fmt.Sprintf("--nodes %d --tasks-per-node %d: want at least 1 each", *nodes, *tasks))
	}
	if *cpus < 0 || *port < 1 || *port > 64535 {
		problems = append(problems, "--cpus-per-task must be >= 0 and --port in [1, 64535]")
	}
	if len(pos) != 1 {
		problems = append(problems, fmt.Sprintf("expected one experiment file, got %d arguments", len(pos)))
	}
	for _, x := range applyArgs {
		if x == "--nproc" || x == "--nnodes" || x == "--node-rank" || x == "--master" || strings.HasPrefix(x, "--nproc=") {
			problems = append(problems, fmt.Sprintf("%s after --: Slurm starts the ranks; give --nodes and --tasks-per-node", x))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "runner launch emit: %s\n", p)
		}
		return exitUsage
	}
	res, code, ok := a.load(pos[0], f)
	if !ok {
		return code
	}
	expPath, err := filepath.Abs(pos[0])
	if err != nil {
		fmt.Fprintf(a.stderr, "runner launch emit: %v\n", err)
		return exitError
	}
	bin := *runner
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			fmt.Fprintf(a.stderr, "runner launch emit: %v (give --runner)\n", err)
			return exitError
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(a.stderr, "runner launch emit: %v\n", err)
		return exitError
	}
	var rest []string
	for _, v := range f.vars {
		rest = append(rest, "-var", v)
	}
	for _, v := range f.varFiles {
		rest = append(rest, "-var-file", v)
	}
	for _, v := range f.sets {
		rest = append(rest, "--set", v)
	}
	rest = append(rest, applyArgs...)
	var argText strings.Builder
	for _, x := range rest {
		argText.WriteString(" " + launchQuote(x))
	}
	to2 := *timeout
	if to2 == 0 {
		to2 = dist.DefaultTimeout
	}
	job := ddpSlurmJob{
		Command: "runner " + strings.Join(append([]string{"launch", "emit"}, launchQuoteAll(args)...), " "),
		Name:    ddpSlurmName.ReplaceAllString(res.Experiment.Name, "_"), Nodes: *nodes, TasksPerNode: *tasks, CPUsPerTask: *cpus,
		Time: *wall, Partition: *partition, Chdir: cwd, Runner: launchQuote(bin), Experiment: launchQuote(expPath),
		Args: argText.String(), Port: *port, Timeout: to2.String(),
	}
	write := func(w io.Writer) error { return ddpSlurmTemplate.Execute(w, job) }
	if *out == "" {
		if err := write(a.stdout); err != nil {
			fmt.Fprintf(a.stderr, "runner launch emit: %v\n", err)
			return exitError
		}
		return exitOK
	}
	if err := fsutil.WriteFileAtomic(*out, 0o755, write); err != nil {
		fmt.Fprintf(a.stderr, "runner launch emit: %s: %v\n", *out, err)
		return exitError
	}
	fmt.Fprintf(a.stdout, "wrote %s: %d node(s) x %d rank(s); submit with: sbatch %s\n", *out, *nodes, *tasks, *out)
	return exitOK
}

func launchIndex(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}

func launchQuoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = launchQuote(x)
	}
	return out
}

var launchSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%-]+$`)

// launchQuote quotes s for a POSIX shell (unchanged when it needs no quoting).
func launchQuote(s string) string {
	if s != "" && launchSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
