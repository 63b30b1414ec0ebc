package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nprocExperiment = `
name = "np"
model {
  backbone "mobilenet_v1" {
    width_mult = 0.25
    extras     = "ssd_lite"
  }
  head "ssd_lite" {
    batch_norm = false
    activation = "relu"
  }
  anchors "ssd_spec" {
    preset = "mobilenet"
  }
}
data {
  train "shapes" {
    count        = 32
    seed         = 1
    image_width  = 96
    image_height = 96
  }
  validation "shapes" {
    count        = 6
    seed         = 2
    image_width  = 96
    image_height = 96
  }
  batch_size = 4
  workers    = 1
}
optimizer "sgd" {
  lr       = 0.01
  momentum = 0.9
}
scheduler "constant" {}
training {
  epochs         = 3
  validate_every = 3
  threads        = 2
  checkpoint {
    every = 1
  }
}
`

type summaryFile struct {
	Status     string `json:"status"`
	EpochsDone int    `json:"epochs_done"`
	Steps      int    `json:"steps"`
	Images     int    `json:"images"`
}

func readSummary(t *testing.T, run string) summaryFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(run, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s summaryFile
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	return s
}

// TestApplyNproc: `runner apply --nproc 2` starts two ranks that train one run (only rank 0
// prints and writes); Ctrl-C makes both stop after the same step with a checkpoint (exit
// 130), and --resume with --nproc 2 finishes the run.
func TestApplyNproc(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 2 processes (-short)")
	}
	dir := t.TempDir()
	exp := filepath.Join(dir, "np.hcl")
	if err := os.WriteFile(exp, []byte(nprocExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	run := filepath.Join(runs, "np", "r")
	env := []string{"HOME=" + t.TempDir(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1"}

	// interrupted once epoch 1's checkpoint exists (the supervisor forwards the signal)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(run, "checkpoints", "epoch-0001.pt")); err == nil {
				syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"apply", exp, "--nproc", "2", "--run-name", "r", "--set", "output.dir=" + runs},
		&out, &errb, env)
	if code != 130 {
		t.Fatalf("interrupted --nproc 2: exit %d, want 130\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "--resume") || strings.Count(out.String(), "Experiment np") != 1 {
		t.Errorf("rank 0 alone prints the plan and the resume command:\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
	if s := readSummary(t, run); s.Status != "interrupted" {
		t.Errorf("summary after Ctrl-C: %+v", s)
	}

	out.Reset()
	errb.Reset()
	code = Run(context.Background(), []string{"apply", exp, "--nproc", "2", "--resume", run, "--set", "output.dir=" + runs},
		&out, &errb, env)
	if code != 0 {
		t.Fatalf("resumed --nproc 2: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	// 32 images in global batches of 8: 4 steps per epoch
	if s := readSummary(t, run); s.Status != "finished" || s.EpochsDone != 3 || s.Steps != 12 || s.Images != 96 {
		t.Errorf("summary after the resume: %+v", s)
	}
	if ents, _ := os.ReadDir(filepath.Join(runs, "np")); len(ents) != 1 {
		t.Errorf("%d run folders, want 1", len(ents))
	}
}

func TestRankFromEnv(t *testing.T) {
	r, ok, err := rankFromEnv([]string{"WORLD_SIZE=4", "RANK=3", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=10.1.2.3", "MASTER_PORT=29500"})
	if err != nil || !ok || r != (rankEnv{rank: 3, world: 4, localRank: 1, localWorld: 2, addr: "10.1.2.3", port: 29500}) {
		t.Errorf("got %+v %v %v", r, ok, err)
	}
	// srun gives no LOCAL_WORLD_SIZE: unknown, any LOCAL_RANK
	if r, _, err := rankFromEnv([]string{"WORLD_SIZE=4", "RANK=3", "LOCAL_RANK=3", "MASTER_ADDR=h", "MASTER_PORT=2"}); err != nil || r.localWorld != 0 {
		t.Errorf("without LOCAL_WORLD_SIZE: %+v %v", r, err)
	}
	if _, ok, err := rankFromEnv([]string{"RANK=1"}); ok || err != nil {
		t.Errorf("without WORLD_SIZE: %v %v", ok, err)
	}
	for _, env := range [][]string{
		{"WORLD_SIZE=two", "RANK=0"},
		{"WORLD_SIZE=2", "RANK=0", "MASTER_ADDR=h"}, // no port
		{"WORLD_SIZE=2", "RANK=0", "LOCAL_RANK=2", "LOCAL_WORLD_SIZE=2", "MASTER_PORT=1"},
		{"WORLD_SIZE=2", "RANK=0", "LOCAL_RANK=-1", "MASTER_PORT=1"},
	} {
		if _, _, err := rankFromEnv(env); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
	if n := threadShare(4, 2); n != 2 {
		t.Errorf("threadShare(4, 2) = %d", n)
	}
	if n := threadShare(1, 3); n != 1 {
		t.Errorf("threadShare(1, 3) = %d", n)
	}
}

func TestApplyDistFlags(t *testing.T) {
	exp := filepath.Join(repoRoot, "experiments", "quickstart.hcl")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nproc", "0"}, "--nproc 0"},
		{[]string{"--nnodes", "2", "--nproc", "2"}, "needs --master"},
		{[]string{"--nnodes", "2", "--node-rank", "2", "--master", "h:1"}, "--node-rank 2"},
		{[]string{"--nproc", "2", "--master", "nohost"}, "want ADDR:PORT"},
		{[]string{"--nproc", "2", "--master", "h:0"}, "port must be"},
	} {
		_, stderr, code := run(t, "", append([]string{"apply", exp}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want a usage error with %q", c.args, code, stderr, c.want)
		}
	}
	// a rank of a launcher's job does not start ranks itself
	var o, e strings.Builder
	code := Run(context.Background(), []string{"apply", exp, "--nproc", "2"}, &o, &e,
		[]string{"HOME=" + t.TempDir(), "WORLD_SIZE=2", "RANK=0", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=1"})
	if code != exitUsage || !strings.Contains(e.String(), "WORLD_SIZE is set") {
		t.Errorf("--nproc inside a launched rank: exit %d\n%s", code, e.String())
	}
}

// TestLaunchEmitSlurm: the batch script asks Slurm for the nodes and tasks, derives the
// torchrun variables per task, passes the experiment's flags and apply's on, is valid bash,
// and lands atomically in --out; wrong flags are usage errors.
func TestLaunchEmitSlurm(t *testing.T) {
	dir := t.TempDir()
	exp, _ := filepath.Abs(filepath.Join(repoRoot, "experiments", "quickstart.hcl"))
	out := filepath.Join(dir, "job.sbatch")
	stdout, stderr, code := run(t, "", "launch", "emit", "--to", "slurm", exp, "--nodes", "3", "--tasks-per-node", "2",
		"--cpus-per-task", "4", "--runner", "/opt/runner bin/runner", "--set", "training.epochs=2", "--out", out, "--", "--resume", "auto")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	script, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --nodes=3", "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=4",
		"WORLD_SIZE=$SLURM_NTASKS RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID", "MASTER_ADDR=$(scontrol show hostnames",
		"'/opt/runner bin/runner' apply " + exp, "--set training.epochs=2 --resume auto", "srun --kill-on-bad-exit=1"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	if b, err := exec.LookPath("bash"); err == nil {
		if o, err := exec.Command(b, "-n", out).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, o)
		}
	}
	for _, c := range [][]string{
		{"--to", "pbs", exp},
		{"--to", "slurm", exp, "--nodes", "0"},
		{"--to", "slurm"},
		{"--to", "slurm", exp, "--", "--nproc", "2"},
	} {
		if _, stderr, code := run(t, "", append([]string{"launch", "emit"}, c...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want a usage error\n%s", c, code, stderr)
		}
	}
}

// TestApplyRendezvousInterrupted: a rank (torchrun's variables) whose peers never come
// stops at Ctrl-C while it waits at the rendezvous, within a second and with exit 130,
// instead of waiting for --dist-timeout.
func TestApplyRendezvousInterrupted(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "np.hcl")
	if err := os.WriteFile(exp, []byte(nprocExperiment), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(os.Args[0], "apply", exp, "--dist-timeout", "2m", "--set", "output.dir="+filepath.Join(dir, "runs"))
	cmd.Env = append(os.Environ(), "SSDRUNNER_TEST_CHILD=1", "HOME="+t.TempDir(), "WORLD_SIZE=2", "RANK=0", "LOCAL_RANK=0",
		"MASTER_ADDR=127.0.0.1", "MASTER_PORT="+strconv.Itoa(port), "OMP_NUM_THREADS=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stderr)
	waiting := false
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "waiting for the other ranks") {
			waiting = true
			break
		}
	}
	if !waiting {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no rendezvous log line:\n%s", strings.Join(lines, "\n"))
	}
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(stderr)
	err = cmd.Wait()
	took := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v after Ctrl-C at the rendezvous, want 130:\n%s\n%s", err, strings.Join(lines, "\n"), rest)
	}
	if !strings.Contains(string(rest), "stopped while waiting for the other ranks") {
		t.Errorf("no clear message:\n%s", rest)
	}
	// the process exits as soon as the context is cancelled; 5 s allows a loaded machine
	if took > 5*time.Second {
		t.Errorf("took %s to stop after Ctrl-C", took)
	}
	t.Logf("stopped %s after Ctrl-C: %s", took.Round(time.Millisecond), strings.TrimSpace(string(rest)))
}
