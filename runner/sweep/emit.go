package sweep

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// JobSpec is what a cluster job needs besides the plan.
type JobSpec struct {
	// Runner is the runner command on the nodes (a name on their PATH or a path).
	Runner string
	// Workdir is the folder every node runs in: relative paths of the experiment (data,
	// output.dir) resolve there, so it must be on a filesystem the nodes share.
	Workdir string
	// CPUs is the cores of each trial (its training.threads and loader workers).
	CPUs int
	// Vars, VarFiles and Sets are the command line's -var, -var-file and --set, passed on.
	Vars, VarFiles, Sets []string
	// Directives are extra lines: #SBATCH lines for Slurm; lines of each task's resources
	// block for Nomad (e.g. "memory = 8192").
	Directives []string
}

func (s JobSpec) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(s.Workdir, path)
}

// applyArgs is the runner command line of one trial (its id, or a shell variable).
func (s JobSpec) applyArgs(p *Plan, trial string) []string {
	args := []string{s.Runner, "apply", s.abs(p.Base.Path), "--trial", trial}
	for _, v := range s.Vars {
		args = append(args, "-var", v)
	}
	for _, v := range s.VarFiles {
		args = append(args, "-var-file", s.abs(v))
	}
	for _, v := range s.Sets {
		args = append(args, "--set", v)
	}
	return args
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

// EmitSlurm writes a Slurm batch script that runs the sweep as a job array, one task per
// trial (`runner apply FILE --trial $SLURM_ARRAY_TASK_ID`, with the task's cores as its
// threads), into the same sweep folder a local run uses. Run with bash, it submits itself
// and then the report job (`runner sweep report`), which waits for every trial to end;
// given to sbatch directly, it runs the trials only. A requeued or re-submitted task
// skips a finished trial and resumes an interrupted one from its checkpoint.
func EmitSlurm(p *Plan, s JobSpec) (string, error) {
	if s.CPUs < 1 {
		return "", fmt.Errorf("cores per trial: %d", s.CPUs)
	}
	dir := s.abs(p.Dir)
	name := "sweep-" + p.Base.Experiment.Name + "-" + p.Sweep.Name
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# Sweep %s of %s (%s): %d trials, one Slurm array task each, written by\n", p.Sweep.Name, p.Base.Experiment.Name, p.Base.Path, len(p.Trials))
	fmt.Fprintf(&b, "# `runner sweep emit --to slurm`. Results land in %s\n", dir)
	fmt.Fprintf(&b, "# (trial-NNN/ run folders, then report.html / report.md / ranking.csv).\n#\n")
	fmt.Fprintf(&b, "#   bash %s     # submits the array, then the report job that waits for it\n", "THIS_SCRIPT")
	fmt.Fprintf(&b, "#   sbatch THIS_SCRIPT   # the trials only (create the sweep folder first); then: %s sweep report %s\n#\n", s.Runner, dir)
	fmt.Fprintf(&b, "# Submitting again re-runs nothing that finished: each task skips a done trial and resumes an\n")
	fmt.Fprintf(&b, "# interrupted one from its checkpoint. Trials:\n")
	for _, t := range p.Trials {
		fmt.Fprintf(&b, "#   %s  %s\n", t.ID, strings.Join(t.Sets(), " "))
	}
	fmt.Fprintf(&b, "#SBATCH --job-name=%s\n", name)
	fmt.Fprintf(&b, "#SBATCH --array=0-%d\n", len(p.Trials)-1)
	fmt.Fprintf(&b, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", s.CPUs)
	fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", s.Workdir)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(dir, "slurm-%A_%a.out"))
	for _, d := range s.Directives {
		fmt.Fprintln(&b, d)
	}
	fmt.Fprintf(&b, "set -euo pipefail\n")
	fmt.Fprintf(&b, "if [ -z \"${SLURM_JOB_ID:-}\" ]; then\n")
	fmt.Fprintf(&b, "  mkdir -p %s\n", shellQuote(dir))
	fmt.Fprintf(&b, "  array=$(sbatch --parsable \"$0\")\n")
	fmt.Fprintf(&b, "  array=${array%%%%;*}\n")
	report := shellJoin([]string{s.Runner, "sweep", "report", dir})
	fmt.Fprintf(&b, "  report=$(sbatch --parsable --job-name=%s --dependency=afterany:\"$array\" --ntasks=1 --cpus-per-task=1 --chdir=%s --output=%s --wrap=%s)\n",
		shellQuote(name+"-report"), shellQuote(s.Workdir), shellQuote(filepath.Join(dir, "slurm-report-%j.out")), shellQuote(report))
	fmt.Fprintf(&b, "  echo \"submitted array job $array (%d trials) and report job ${report%%%%;*}\"\n", len(p.Trials))
	fmt.Fprintf(&b, "  exit 0\nfi\n")
	fmt.Fprintf(&b, "threads=${SLURM_CPUS_PER_TASK:-%d}\n", s.CPUs)
	args := s.applyArgs(p, "")
	fmt.Fprintf(&b, "exec %s --trial \"$SLURM_ARRAY_TASK_ID\"", shellJoin(args[:3]))
	if len(args) > 5 {
		fmt.Fprintf(&b, " %s", shellJoin(args[5:]))
	}
	fmt.Fprintf(&b, " --set \"training.threads=$threads\" --set \"data.workers=$threads\"\n")
	return b.String(), nil
}

// hclString writes s as an HCL string literal (quotes, escapes, and $${ / %%{ for template
// sequences).
func hclString(s string) string {
	return strings.TrimSpace(string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes()))
}

func hclList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = hclString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// EmitNomad writes a Nomad batch job with one task group per trial: a task that runs
// `runner apply FILE --trial ID` in the shared work folder (raw_exec, so the nodes' own
// runner and data are used), restarted in place on failure so that it resumes from its
// checkpoint, and a poststop task that rewrites the sweep report (the last trial to end
// leaves the complete one).
func EmitNomad(p *Plan, s JobSpec) (string, error) {
	if s.CPUs < 1 {
		return "", fmt.Errorf("cores per trial: %d", s.CPUs)
	}
	dir := s.abs(p.Dir)
	var b strings.Builder
	fmt.Fprintf(&b, "# Sweep %s of %s (%s): %d trials, one task group each, written by\n", p.Sweep.Name, p.Base.Experiment.Name, p.Base.Path, len(p.Trials))
	fmt.Fprintf(&b, "# `runner sweep emit --to nomad`. Run: nomad job run THIS_FILE. Results land in\n# %s, which every client must share (with %s).\n", dir, s.Workdir)
	fmt.Fprintf(&b, "job %s {\n  type        = \"batch\"\n  datacenters = [\"*\"]\n\n", hclString("sweep-"+p.Base.Experiment.Name+"-"+p.Sweep.Name))
	fmt.Fprintf(&b, "  meta {\n    sweep_dir = %s\n  }\n", hclString(dir))
	report := "cd " + shellQuote(s.Workdir) + " && exec " + shellJoin([]string{s.Runner, "sweep", "report", dir})
	for _, t := range p.Trials {
		args := append(s.applyArgs(p, t.ID), "--set", fmt.Sprintf("training.threads=%d", s.CPUs), "--set", fmt.Sprintf("data.workers=%d", s.CPUs))
		script := "cd " + shellQuote(s.Workdir) + " && exec " + shellJoin(args)
		fmt.Fprintf(&b, "\n  # %s\n", strings.Join(t.Sets(), " "))
		fmt.Fprintf(&b, "  group %s {\n", hclString(t.ID))
		fmt.Fprintf(&b, "    restart {\n      attempts = 2\n      delay    = \"30s\"\n      mode     = \"fail\"\n    }\n")
		fmt.Fprintf(&b, "    task \"train\" {\n      driver       = \"raw_exec\"\n      kill_signal  = \"SIGTERM\"\n      kill_timeout = \"5m\"\n")
		fmt.Fprintf(&b, "      config {\n        command = \"/bin/sh\"\n        args    = %s\n      }\n", hclList([]string{"-c", script}))
		fmt.Fprintf(&b, "      resources {\n        cores  = %d\n", s.CPUs)
		if !slices.ContainsFunc(s.Directives, func(d string) bool { return strings.HasPrefix(strings.TrimSpace(d), "memory") }) {
			fmt.Fprintf(&b, "        memory = 4096\n")
		}
		for _, d := range s.Directives {
			fmt.Fprintf(&b, "        %s\n", d)
		}
		fmt.Fprintf(&b, "      }\n    }\n")
		fmt.Fprintf(&b, "    task \"report\" {\n      lifecycle {\n        hook = \"poststop\"\n      }\n      driver = \"raw_exec\"\n")
		fmt.Fprintf(&b, "      config {\n        command = \"/bin/sh\"\n        args    = %s\n      }\n", hclList([]string{"-c", report}))
		fmt.Fprintf(&b, "      resources {\n        cpu    = 500\n        memory = 512\n      }\n    }\n  }\n")
	}
	fmt.Fprintf(&b, "}\n")
	return b.String(), nil
}
