package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinySweep writes a learning-rate sweep over the quickstart, shortened to a few images
// and two epochs with a validation after each, into dir; extra goes inside the sweep block.
func tinySweep(t *testing.T, dir, method, extra string) string {
	t.Helper()
	quick, err := filepath.Abs(filepath.Join(repoRoot, "experiments", "quickstart.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`inherits = %q
data {
  train "shapes" {
    count       = 8
    seed        = 1
    image_width = 96
    image_height = 96
  }
  validation "shapes" {
    count       = 4
    seed        = 2
    image_width = 96
    image_height = 96
  }
  batch_size = 8
}
training {
  epochs         = 2
  validate_every = 1
  log_every      = 1
}
output {
  dir = %q
}
sweep {
  name   = "lr"
  method = %q
  %s
}
`, quick, filepath.Join(dir, "runs"), method, extra)
	path := filepath.Join(dir, "tiny.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type trialJSON struct {
	Status    string `json:"status"`
	Decisions []struct {
		Epoch  int    `json:"epoch"`
		Rule   string `json:"rule"`
		Stop   bool   `json:"stop"`
		Reason string `json:"reason"`
	} `json:"decisions"`
}

// TestSweepApply runs a 3-trial learning-rate sweep end to end with the median rule:
// every trial a run folder with its trial.json, the third judged at epoch 1 with its
// reason, the report ranking all three; a re-run skips them all, and a trial left
// interrupted is resumed from its checkpoint.
func TestSweepApply(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three trials")
	}
	dir := t.TempDir()
	path := tinySweep(t, dir, "grid", `
  param "optimizer.lr" {
    log_uniform = [1e-3, 1e-2]
    points      = 3
  }
  early_stopping "median" {
    grace_epochs = 1
    min_trials   = 2
  }`)
	stdout, stderr, code := run(t, "", "apply", path)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sweepDir := filepath.Join(dir, "runs", "tiny", "lr")
	for _, want := range []string{"Sweep lr: 3 trials (0 done earlier, 3 to run), grid, ranked by best mAP", "trial-001 (optimizer.lr=0.00316227766017)",
		"Sweep lr: trials ranked by best mAP", filepath.Join(sweepDir, "report.html")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// the third trial is judged at epoch 1 against the two before it
	var tr trialJSON
	readJSON(t, filepath.Join(sweepDir, "trial-002", "trial.json"), &tr)
	if len(tr.Decisions) != 1 || tr.Decisions[0].Epoch != 1 || tr.Decisions[0].Rule != "median" ||
		!strings.Contains(tr.Decisions[0].Reason, "median") || !strings.Contains(tr.Decisions[0].Reason, "of 2 other trials") {
		t.Errorf("trial-002 decisions: %+v", tr.Decisions)
	}
	var sum struct {
		Status     string `json:"status"`
		EpochsDone int    `json:"epochs_done"`
		StopReason string `json:"stop_reason"`
	}
	readJSON(t, filepath.Join(sweepDir, "trial-002", "summary.json"), &sum)
	if stop := len(tr.Decisions) == 1 && tr.Decisions[0].Stop; stop {
		if tr.Status != "stopped" || sum.Status != "stopped" || sum.EpochsDone != 1 || sum.StopReason != tr.Decisions[0].Reason {
			t.Errorf("stopped trial: trial.json %s, summary %+v", tr.Status, sum)
		}
	} else if tr.Status != "finished" || sum.EpochsDone != 2 {
		t.Errorf("continued trial: trial.json %s, summary %+v", tr.Status, sum)
	}
	// the first trial had nobody to compare with
	var t0 trialJSON
	readJSON(t, filepath.Join(sweepDir, "trial-000", "trial.json"), &t0)
	if t0.Status != "finished" || len(t0.Decisions) != 1 || t0.Decisions[0].Stop || !strings.Contains(t0.Decisions[0].Reason, "0 other trial(s)") {
		t.Errorf("trial-000: %+v", t0)
	}
	// the report: every trial ranked, charts, HTML
	f, err := os.Open(filepath.Join(sweepDir, "ranking.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 4 || rows[1][0] != "1" || rows[3][0] != "3" {
		t.Errorf("ranking.csv: %v %v", rows, err)
	}
	for _, name := range []string{"report.html", "report.md", "charts/metric_vs_optimizer.lr.png", "charts/best_so_far.svg", "charts/top_trials_ap.png",
		"trial-001/checkpoints/last.pt", "trial-001/metrics.jsonl", "trial-001/experiment.hcl"} {
		if _, err := os.Stat(filepath.Join(sweepDir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	exp, _ := os.ReadFile(filepath.Join(sweepDir, "trial-001", "experiment.hcl"))
	if !strings.Contains(string(exp), "lr           = 0.00316227766017") {
		t.Errorf("trial-001's experiment.hcl does not have its lr:\n%s", exp)
	}

	// the same command again: nothing left to run
	stdout, stderr, code = run(t, "", "apply", path)
	if code != 0 || !strings.Contains(stdout, "3 done earlier, 0 to run") {
		t.Errorf("re-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// a trial left interrupted is resumed from its checkpoint (here its last, complete one)
	state := filepath.Join(sweepDir, "trial-001", "trial.json")
	data, _ := os.ReadFile(state)
	if err := os.WriteFile(state, []byte(strings.Replace(string(data), `"status": "finished"`, `"status": "interrupted"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = run(t, "", "apply", path)
	var t1 struct {
		Status   string `json:"status"`
		Sessions int    `json:"sessions"`
	}
	readJSON(t, state, &t1)
	if code != 0 || !strings.Contains(stdout, "2 done earlier, 1 to run") || t1.Status != "finished" || t1.Sessions != 2 {
		t.Errorf("resume of an interrupted trial: exit %d, trial.json %+v\n%s\n%s", code, t1, stdout, stderr)
	}
	// a changed sweep is refused in the same folder
	other := tinySweep(t, dir, "grid", `
  param "optimizer.lr" {
    values = [0.5]
  }`)
	_, stderr, code = run(t, "", "apply", other)
	if code != exitError || !strings.Contains(stderr, "holds another sweep") {
		t.Errorf("another sweep in the same folder: exit %d\n%s", code, stderr)
	}
	// the report can be rewritten from the folder alone
	stdout, stderr, code = run(t, "", "sweep", "report", sweepDir)
	if code != 0 || !strings.Contains(stdout, "trials ranked by best mAP") {
		t.Errorf("sweep report: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestSweepParallel runs two one-epoch trials as two child processes with one thread
// each, and refuses a split that would oversubscribe the cores.
func TestSweepParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two trials")
	}
	dir := t.TempDir()
	path := tinySweep(t, dir, "random", `
  trials = 2
  seed   = 3
  param "optimizer.lr" {
    log_uniform = [1e-3, 1e-2]
  }`)
	var out, errb strings.Builder
	env := []string{"HOME=" + t.TempDir(), "SSDRUNNER_TEST_CHILD=1", "PATH=" + os.Getenv("PATH")}
	code := Run(context.Background(), []string{"apply", path, "--set", "training.epochs=1", "--set", "training.threads=2", "--parallel", "2"}, &out, &errb, env)
	if code != 0 {
		t.Fatalf("apply --parallel 2: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	sweepDir := filepath.Join(dir, "runs", "tiny", "lr")
	for _, id := range []string{"trial-000", "trial-001"} {
		var tr trialJSON
		readJSON(t, filepath.Join(sweepDir, id, "trial.json"), &tr)
		var exp struct {
			Training struct {
				Threads int `json:"threads"`
			} `json:"training"`
			Data struct {
				Workers int `json:"workers"`
			} `json:"data"`
		}
		readJSON(t, filepath.Join(sweepDir, id, "experiment.json"), &exp)
		if tr.Status != "finished" || exp.Training.Threads != 1 || exp.Data.Workers != 1 {
			t.Errorf("%s: status %s, threads %d, workers %d", id, tr.Status, exp.Training.Threads, exp.Data.Workers)
		}
		if log, err := os.ReadFile(filepath.Join(sweepDir, id, "console.log")); err != nil || !strings.Contains(string(log), id+" finished") {
			t.Errorf("%s/console.log: %v\n%s", id, err, log)
		}
	}
	if !strings.Contains(out.String(), "start trial-001 (optimizer.lr=") || !strings.Contains(out.String(), "with 1 thread(s)") {
		t.Errorf("stdout:\n%s", out.String())
	}
	_, stderr, code := run(t, "", "apply", path, "--set", "training.threads=2", "--parallel", "3")
	if code != exitError || !strings.Contains(stderr, "--parallel 3 would run more trials than the 2 cores") {
		t.Errorf("--parallel 3 on 2 threads: exit %d\n%s", code, stderr)
	}
}

// TestSweepEmit writes the Slurm and Nomad jobs of a sweep and checks what they run.
func TestSweepEmit(t *testing.T) {
	dir := t.TempDir()
	path := tinySweep(t, dir, "grid", `
  param "optimizer.lr" {
    values = [0.001, 0.01]
  }
  param "data.batch_size" {
    values = [4, 8]
  }`)
	stdout, stderr, code := run(t, "", "sweep", "emit", "--to", "slurm", "--cpus", "3", "--workdir", "/shared/work", "--runner", "/opt/runner",
		"--directive", "#SBATCH --partition=cpu", path, "-var", "lr=0.5")
	if code != 0 {
		t.Fatalf("emit slurm: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"#SBATCH --array=0-3", "#SBATCH --cpus-per-task=3", "#SBATCH --chdir=/shared/work", "#SBATCH --partition=cpu",
		"#   trial-003  optimizer.lr=0.01 data.batch_size=8",
		`exec /opt/runner apply ` + path + ` --trial "$SLURM_ARRAY_TASK_ID" -var lr=0.5 --set "training.threads=$threads"`,
		"--dependency=afterany:\"$array\"", "'/opt/runner sweep report " + filepath.Join(dir, "runs", "tiny", "lr") + "'"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("slurm script lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.HasPrefix(stdout, "#!/bin/bash\n") {
		t.Error("the slurm script has no #!/bin/bash line")
	}
	out := filepath.Join(dir, "sweep.nomad.hcl")
	_, stderr, code = run(t, "", "sweep", "emit", "--to", "nomad", "--out", out, path)
	if code != 0 {
		t.Fatalf("emit nomad: exit %d\n%s", code, stderr)
	}
	job, _ := os.ReadFile(out)
	for _, want := range []string{`type        = "batch"`, `group "trial-000" {`, `group "trial-003" {`, `hook = "poststop"`, "--trial trial-002", "training.threads=4"} {
		if !strings.Contains(string(job), want) {
			t.Errorf("nomad job lacks %q:\n%s", want, job)
		}
	}
	// Ctrl-C before the first trial: exit 130, the sweep folder and its (empty) report written
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e strings.Builder
	code = Run(ctx, []string{"apply", path}, &o, &e, []string{"HOME=" + t.TempDir()})
	if code != 130 || !strings.Contains(e.String(), "run the same command again to continue") || !strings.Contains(o.String(), "trial-003  pending") {
		t.Errorf("interrupted sweep: exit %d\n%s\n%s", code, o.String(), e.String())
	}
	_, stderr, code = run(t, "", "sweep", "emit", "--to", "pbs", path)
	if code != exitUsage || !strings.Contains(stderr, "want slurm or nomad") {
		t.Errorf("--to pbs: exit %d %s", code, stderr)
	}
	_, stderr, code = run(t, "", "sweep", "emit", "--to", "slurm", filepath.Join(repoRoot, "experiments", "quickstart.hcl"))
	if code != exitError || !strings.Contains(stderr, "has no sweep block") {
		t.Errorf("emit without a sweep: exit %d %s", code, stderr)
	}
}
