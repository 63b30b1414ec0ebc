package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/dist"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
)

// The data-parallel tests re-execute this test binary as the ranks of a job: with
// SSD_TRAIN_RANK set, TestMain trains SSD_TRAIN_EXP (with the --set overrides in
// SSD_TRAIN_SET, separated by ';') as that rank and exits.
func TestMain(m *testing.M) {
	if os.Getenv("SSD_TRAIN_RANK") != "" {
		os.Exit(ddpWorker())
	}
	os.Exit(m.Run())
}

func ddpWorker() int {
	runtime.LockOSThread()
	rank, _ := strconv.Atoi(os.Getenv("SSD_TRAIN_RANK"))
	world, _ := strconv.Atoi(os.Getenv("SSD_TRAIN_WORLD"))
	port, _ := strconv.Atoi(os.Getenv("SSD_TRAIN_PORT"))
	killAt, _ := strconv.Atoi(os.Getenv("SSD_TRAIN_KILL_AT"))
	var sets []string
	if s := os.Getenv("SSD_TRAIN_SET"); s != "" {
		sets = strings.Split(s, ";")
	}
	res, diags := config.Load(os.Getenv("SSD_TRAIN_EXP"), config.Options{Set: sets})
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags.Error())
		return 2
	}
	g, err := dist.Init(dist.Config{Rank: rank, World: world, MasterAddr: "127.0.0.1", MasterPort: port, Timeout: 20 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer g.Close()
	run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer run.Close()
	opts := Options{Log: zerolog.Nop(), RunName: os.Getenv("SSD_TRAIN_RUN"), Dist: g}
	if killAt > 0 && rank == world-1 {
		opts.OnStep = func(epoch, step, global int) {
			if global == killAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stopVal, _ := strconv.Atoi(os.Getenv("SSD_TRAIN_STOP_IN_VALIDATION")); stopVal > 0 && rank == world-1 {
		// as Ctrl-C reaching this rank only, after its first batch of the validation
		// after epoch stopVal
		opts.OnValidationBatch = func(epoch, batches int) {
			if epoch == stopVal && batches == 1 {
				cancel()
			}
		}
	}
	if _, err := Apply(ctx, res, run, opts); err != nil {
		fmt.Fprintf(os.Stderr, "rank %d: %v\n", rank, err)
		return 1
	}
	return 0
}

type rankResult struct {
	code   int
	stderr string
}

// spawnJob trains exp as world ranks (run name runName, overrides sets) and returns each
// rank's exit status and stderr.
func spawnJob(t testing.TB, exp, runName string, world, killAt int, sets ...string) []rankResult {
	return spawnJobThreads(t, exp, runName, world, killAt, 1, sets...)
}

// spawnJobThreads is spawnJob with threads OpenMP and OpenBLAS threads per rank (the
// experiment's training.threads sets libtorch's).
func spawnJobThreads(t testing.TB, exp, runName string, world, killAt, threads int, sets ...string) []rankResult {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := make([]rankResult, world)
	var wg sync.WaitGroup
	for r := range world {
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), "SSD_TRAIN_RANK="+strconv.Itoa(r), "SSD_TRAIN_WORLD="+strconv.Itoa(world),
			"SSD_TRAIN_PORT="+strconv.Itoa(port), "SSD_TRAIN_EXP="+exp, "SSD_TRAIN_RUN="+runName,
			"SSD_TRAIN_SET="+strings.Join(sets, ";"), "SSD_TRAIN_KILL_AT="+strconv.Itoa(killAt),
			"SSD_TRAIN_STOP_IN_VALIDATION="+os.Getenv("SSD_TRAIN_STOP_IN_VALIDATION"),
			"OMP_NUM_THREADS="+strconv.Itoa(threads), "OPENBLAS_NUM_THREADS="+strconv.Itoa(threads))
		// each rank in a folder of its own: a rank other than 0 must write nothing (relative
		// paths would land here)
		cwd := t.TempDir()
		cmd.Dir = cwd
		var se bytes.Buffer
		cmd.Stderr = &se
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = -int(ws.Signal())
				}
			} else if err != nil {
				code = -1000
			}
			if ents, _ := os.ReadDir(cwd); r > 0 && len(ents) > 0 {
				code, se = -2000, *bytes.NewBufferString(fmt.Sprintf("rank %d wrote %s in its working folder\n%s", r, ents[0].Name(), se.String()))
			}
			out[r] = rankResult{code: code, stderr: se.String()}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the job did not finish in 5 minutes: %+v", out)
	}
	return out
}

// ddpExperiment: MobileNetV1 x0.25 SSD-Lite with its base net frozen, so that no batch norm
// is in training mode (the frozen base net's normalise with their running statistics; the
// extras and the ssd_lite head without batch_norm have none): then the model is a
// per-sample function and a global batch split over ranks must give the same gradient.
// 64 images, batch 16, 5 epochs: 20 steps; validation on 12 images at the end.
const ddpExperiment = `
name = "ddp"
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
    count  = 64
    seed   = 1
    image_width  = 96
    image_height = 96
  }
  validation "shapes" {
    count  = 12
    seed   = 2
    image_width  = 96
    image_height = 96
  }
  batch_size = 16
  workers    = 1
}
optimizer "sgd" {
  lr           = 0.05
  momentum     = 0.9
  weight_decay = 0.0005
}
scheduler "constant" {}
training {
  epochs         = 5
  validate_every = 5
  log_every      = 1
  threads        = 1
  freeze         = "base_net"
  checkpoint {
    every = 1
  }
}
`

// TestDataParallelEqualsOneProcess is the equivalence test: 2 ranks of batch 8
// against 1 process of batch 16, same seed, batch norms frozen. After 20 steps the
// weights agree to float32 summation-order tolerance, the per-step losses too, and the
// sharded, gathered validation gives the one-process metrics.
func TestDataParallelEqualsOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 3 processes (-short)")
	}
	dir := t.TempDir()
	res := load(t, dir, ddpExperiment)
	if _, err := apply(t, context.Background(), res, Options{RunName: "one"}); err != nil {
		t.Fatal(err)
	}
	for r, x := range spawnJob(t, res.Path, "two", 2, 0, "output.dir="+filepath.Join(dir, "runs"), "data.batch_size=8") {
		if x.code != 0 {
			t.Fatalf("rank %d exited with %d:\n%s", r, x.code, x.stderr)
		}
	}
	one := filepath.Join(dir, "runs", "ddp", "one")
	two := filepath.Join(dir, "runs", "ddp", "two")
	if _, err := os.Stat(filepath.Join(dir, "runs", "ddp")); err != nil {
		t.Fatal(err)
	}
	// only rank 0 wrote: one run folder besides the one-process run
	if ents, _ := os.ReadDir(filepath.Join(dir, "runs", "ddp")); len(ents) != 2 {
		t.Errorf("%d run folders, want 2 (one, two)", len(ents))
	}

	a, b := lastCheckpoints(t, one, two, 20)
	// The bound: the two runs sum the same per-sample gradients in another order (libtorch's
	// batch-16 reductions against two batch-8 reductions added by gloo), a float32 rounding
	// difference of about 1e-6 of a gradient; 20 SGD steps carry it into the weights without
	// amplifying it much. 1e-4 of each tensor's largest magnitude leaves two orders of
	// magnitude for that; a real difference in the gradient (per-rank loss normalisation, a
	// missing or doubled allreduce) moves the weights by 1e-3 to 1e-1 of that magnitude.
	worst := compareWeights(t, a.Model, b.Model, 1e-4)
	t.Logf("%d tensors; largest difference %.3g of a tensor's magnitude", len(a.Model), worst)

	// the per-step losses (the global batch's, as rank 0 logs them)
	sa, sb := readSteps(t, one), readSteps(t, two)
	if len(sa) != 20 || len(sb) != 20 {
		t.Fatalf("%d and %d step lines, want 20", len(sa), len(sb))
	}
	for i := range sa {
		// same bound as the weights: a float32 loss summed in another order
		if d := math.Abs(sa[i].Loss - sb[i].Loss); d > 1e-4*sa[i].Loss {
			t.Errorf("step %d: loss %.7g with one process, %.7g with two", i+1, sa[i].Loss, sb[i].Loss)
		}
	}
	// the gathered validation: the same images and, from weights this close, the same mAP
	va, vb := a.Meta.History.lastValidation(), b.Meta.History.lastValidation()
	if va == nil || vb == nil {
		t.Fatal("no validation recorded")
	}
	if va.Images != 12 || vb.Images != 12 {
		t.Errorf("validated %d and %d images, want 12", va.Images, vb.Images)
	}
	// AP moves only when a detection's score crosses another's: with weights 1e-4 apart
	// it may, rarely, so the mAP gets an absolute 1e-3 (it lies in [0, 1]); the losses, smooth
	// functions of the weights, the weights' bound
	if math.Abs(va.MAP-vb.MAP) > 1e-3 {
		t.Errorf("mAP %.6g with one process, %.6g with two", va.MAP, vb.MAP)
	}
	if math.Abs(va.Loss-vb.Loss) > 1e-4*va.Loss {
		t.Errorf("validation loss %.7g with one process, %.7g with two", va.Loss, vb.Loss)
	}
	t.Logf("last loss %.6g / %.6g; mAP %.4g / %.4g; val loss %.6g / %.6g", sa[19].Loss, sb[19].Loss, va.MAP, vb.MAP, va.Loss, vb.Loss)
}

// syncBNExperiment is ddpExperiment with the base net training, so that MobileNetV1's 14
// batch norms are in training mode, and 68 images, one epoch: 5 steps, the last a global
// batch of 4 that rank 0 gets whole, so that rank 1 runs the synchronised batch norms
// over an empty batch.
var syncBNExperiment = strings.NewReplacer(
	"count  = 64", "count  = 68",
	`freeze         = "base_net"`, `freeze         = "none"`,
	"epochs         = 5", "epochs         = 1",
	"validate_every = 5", "validate_every = 1",
).Replace(ddpExperiment)

// TestSyncBatchNormInTraining: 2 ranks of batch 8 with training.sync_batchnorm against 1
// process of batch 16 with plain batch norm (batch norms in training mode, same seed), and
// against 2 ranks without it. The first step, from identical weights, gives the same loss
// (the forward statistics are the global batch's), where per-rank statistics do not; the
// job finishes with the empty rank taking part. The gradients' exactness is
// internal/dist's TestSyncBatchNormMatchesOneBatch and TestSyncBatchNormChain: after a
// step the weights of this 14-layer network move apart by float32 rounding amplified
// through the stack of batch norms (see the README), which is no test of exactness.
func TestSyncBatchNormInTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 5 processes (-short)")
	}
	if !strings.Contains(syncBNExperiment, `freeze         = "none"`) || !strings.Contains(syncBNExperiment, "count  = 68") {
		t.Fatal("syncBNExperiment did not rewrite ddpExperiment")
	}
	dir := t.TempDir()
	res := load(t, dir, syncBNExperiment, "training.sync_batchnorm=true")
	// one process: sync_batchnorm has no effect (a warning), plain batch norm over 16
	if _, err := apply(t, context.Background(), res, Options{RunName: "one"}); err != nil {
		t.Fatal(err)
	}
	for _, sync := range []string{"true", "false"} {
		for r, x := range spawnJob(t, res.Path, "sync-"+sync, 2, 0, "output.dir="+filepath.Join(dir, "runs"), "data.batch_size=8",
			"training.sync_batchnorm="+sync) {
			if x.code != 0 {
				t.Fatalf("sync %s: rank %d exited with %d:\n%s", sync, r, x.code, x.stderr)
			}
		}
	}
	one := readSteps(t, filepath.Join(dir, "runs", "ddp", "one"))
	syncd := readSteps(t, filepath.Join(dir, "runs", "ddp", "sync-true"))
	plain := readSteps(t, filepath.Join(dir, "runs", "ddp", "sync-false"))
	if len(one) != 5 || len(syncd) != 5 || len(plain) != 5 {
		t.Fatalf("%d, %d and %d step lines, want 5", len(one), len(syncd), len(plain))
	}
	rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Abs(a) }
	// the first step's loss: the same weights, the same images, statistics over the same
	// 16 images summed in another order: float32 rounding, 1e-5 relative leaves a factor
	// 100; per-rank statistics over 8 images change it by 1e-3 and more
	if d := rel(one[0].Loss, syncd[0].Loss); d > 1e-5 {
		t.Errorf("first step: loss %.7g with one process, %.7g with two ranks and sync_batchnorm", one[0].Loss, syncd[0].Loss)
	}
	if d := rel(one[0].Loss, plain[0].Loss); d < 1e-4 {
		t.Errorf("first step: loss %.7g with one process, %.7g with two ranks without sync_batchnorm: the control should differ", one[0].Loss, plain[0].Loss)
	}
	for i := range one {
		t.Logf("step %d: loss %.7g one process, %.7g sync (%.2g), %.7g per-rank (%.2g)", i+1, one[i].Loss,
			syncd[i].Loss, rel(one[i].Loss, syncd[i].Loss), plain[i].Loss, rel(one[i].Loss, plain[i].Loss))
	}
}

// TestDataParallelLostRank: rank 1 is killed (SIGKILL) in the middle of epoch 3; rank 0
// stops well within the collective timeout (20 s) with an error naming rank 1, and the
// run resumes from its last checkpoint, here as one process (another world size).
func TestDataParallelLostRank(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 2 processes (-short)")
	}
	dir := t.TempDir()
	res := load(t, dir, ddpExperiment, "training.epochs=4")
	start := time.Now()
	out := spawnJob(t, res.Path, "lost", 2, 10, "output.dir="+filepath.Join(dir, "runs"), "data.batch_size=8", "training.epochs=4")
	if out[1].code != -int(syscall.SIGKILL) {
		t.Fatalf("rank 1 exited with %d, want killed:\n%s", out[1].code, out[1].stderr)
	}
	if out[0].code == 0 || !strings.Contains(out[0].stderr, "rank 1 stopped answering") {
		t.Fatalf("rank 0 exited with %d, want an error naming rank 1:\n%s", out[0].code, out[0].stderr)
	}
	t.Logf("rank 0 (%.1f s after the start): %s", time.Since(start).Seconds(), strings.TrimSpace(out[0].stderr))
	run := filepath.Join(dir, "runs", "ddp", "lost")
	ck, err := loadCheckpoint(filepath.Join(run, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Meta.Epoch != 2 || ck.Meta.World != 2 {
		t.Errorf("last checkpoint at epoch %d (world %d), want 2 (2)", ck.Meta.Epoch, ck.Meta.World)
	}
	ck.Close()
	// resume as one process of the same batch (8): epochs 1-2 took 4 global steps each,
	// epochs 3 and 4 take 8
	res8 := load(t, dir, ddpExperiment, "training.epochs=4", "data.batch_size=8")
	sum, err := apply(t, context.Background(), res8, Options{Resume: run})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != "finished" || sum.Steps != 24 || sum.EpochsDone != 4 {
		t.Errorf("resumed run: %+v", sum)
	}
}

// TestDataParallelStopInValidation: Ctrl-C reaching one rank during the sharded
// validation stops every rank before the validation's next batch (the ranks vote at each
// batch), rank 0 keeps the epoch's training in a checkpoint whose validation is pending,
// and a resume as one process runs that validation and finishes the run.
func TestDataParallelStopInValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 2 processes (-short)")
	}
	dir := t.TempDir()
	sets := []string{"output.dir=" + filepath.Join(dir, "runs"), "data.batch_size=8", "training.epochs=2", "training.validate_every=1"}
	res := load(t, dir, ddpExperiment, sets[1:]...)
	t.Setenv("SSD_TRAIN_STOP_IN_VALIDATION", "1")
	out := spawnJob(t, res.Path, "stopval", 2, 0, sets...)
	for r, o := range out {
		if o.code != 1 || !strings.Contains(o.stderr, "interrupted in the validation after epoch 1") {
			t.Fatalf("rank %d exited with %d, want 1 and the interruption in the validation:\n%s", r, o.code, o.stderr)
		}
	}
	if !strings.Contains(out[0].stderr, "--resume") {
		t.Errorf("rank 0 does not say how to resume:\n%s", out[0].stderr)
	}
	run := filepath.Join(dir, "runs", "ddp", "stopval")
	ck, err := loadCheckpoint(filepath.Join(run, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Meta.Epoch != 1 || ck.Meta.Step != 0 || !ck.Meta.ValidationPending || len(ck.Meta.History.Validations) != 0 {
		t.Errorf("checkpoint at epoch %d step %d, validation pending %v, %d validations; want 1, 0, true, 0",
			ck.Meta.Epoch, ck.Meta.Step, ck.Meta.ValidationPending, len(ck.Meta.History.Validations))
	}
	ck.Close()
	sum, err := apply(t, context.Background(), res, Options{Resume: run})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != "finished" || sum.EpochsDone != 2 {
		t.Errorf("resumed run: %+v", sum)
	}
	ck, err = loadCheckpoint(filepath.Join(run, "checkpoints", "last.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if v := ck.Meta.History.Validations; len(v) != 2 || v[0].Epoch != 1 || v[1].Epoch != 2 {
		t.Errorf("validations after the resume: %+v, want epochs 1 and 2", v)
	}
}

func TestResumeStep(t *testing.T) {
	for _, c := range []struct {
		step, world, now, want int
		exact                  bool
	}{
		{5, 2, 2, 5, true},
		{5, 0, 1, 5, true},  // a one-process checkpoint
		{3, 2, 1, 6, true},  // 3 global batches of 2 ranks are 6 of one
		{4, 1, 3, 1, false}, // 4 batches of one process: 1 of 3 ranks, the 4th trained again
		{0, 4, 2, 0, true},
	} {
		got, exact := resumeStep(c.step, c.world, c.now)
		if got != c.want || exact != c.exact {
			t.Errorf("resumeStep(%d, %d, %d) = %d, %v; want %d, %v", c.step, c.world, c.now, got, exact, c.want, c.exact)
		}
	}
}

// lastCheckpoints loads the last checkpoints of a one-process run and a 2-rank run (freed
// at cleanup) and checks that both made the given number of steps.
func lastCheckpoints(t *testing.T, one, two string, steps int) (a, b *checkpoint) {
	t.Helper()
	var err error
	if a, err = loadCheckpoint(filepath.Join(one, "checkpoints", "last.pt")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if b, err = loadCheckpoint(filepath.Join(two, "checkpoints", "last.pt")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if a.Meta.GlobalStep != steps || b.Meta.GlobalStep != steps || b.Meta.World != 2 {
		t.Fatalf("steps %d and %d (world %d), want %d and %d (world 2)", a.Meta.GlobalStep, b.Meta.GlobalStep, b.Meta.World, steps, steps)
	}
	return a, b
}

// compareWeights reports every variable of b that differs from a's by more than bound of
// the largest magnitude in a's tensor, and returns the largest such relative difference.
func compareWeights(t *testing.T, a, b map[string]*ts.Tensor, bound float64) float64 {
	t.Helper()
	worst := 0.0
	for name, x := range a {
		y, ok := b[name]
		if !ok {
			t.Fatalf("%s missing from the data-parallel checkpoint", name)
		}
		scale := x.MustAbs(false)
		mx := scale.MustMax(false)
		m := mx.Float64Values()[0]
		scale.MustDrop()
		mx.MustDrop()
		d := x.MustSub(y, false)
		ad := d.MustAbs(true)
		dmax := ad.MustMax(true)
		diff := dmax.Float64Values()[0]
		dmax.MustDrop()
		rel := diff / math.Max(m, 1e-12)
		worst = math.Max(worst, rel)
		if rel > bound {
			t.Errorf("%s: weights differ by %.3g of their magnitude %.3g", name, rel, m)
		}
	}
	return worst
}
