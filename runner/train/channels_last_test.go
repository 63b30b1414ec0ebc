package train

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// TestChannelsLast: training.channels_last trains the same model as the default layout up
// to float32 rounding, and a run with it interrupted mid-epoch and resumed equals the
// same run trained in one go, bit for bit (the resumed variables are laid out
// channels-last again after the load, so every op runs the same kernels).
//
// The first step's losses come from the same weights and images through convolution
// kernels that sum in another order, then through batch norms in training mode, which
// divide by the batch's spread (channels of nearly constant values amplify rounding; see
// the README on synchronised batch norm): 1e-3 relative is about 10x what that amounts to
// here, while a wrong layout (values read in the wrong order) changes the loss by its own
// magnitude.
func TestChannelsLast(t *testing.T) {
	dir := t.TempDir()
	plain := load(t, dir, tinyExperiment)
	if _, err := apply(t, context.Background(), plain, Options{RunName: "plain"}); err != nil {
		t.Fatal(err)
	}
	res := load(t, dir, tinyExperiment, "training.channels_last=true")
	if _, err := apply(t, context.Background(), res, Options{RunName: "full"}); err != nil {
		t.Fatal(err)
	}
	a := readSteps(t, filepath.Join(dir, "runs", "tiny", "plain"))
	b := readSteps(t, filepath.Join(dir, "runs", "tiny", "full"))
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d steps", len(a), len(b))
	}
	if d := math.Abs(a[0].Loss-b[0].Loss) / math.Abs(a[0].Loss); !(d <= 1e-3) {
		t.Errorf("first step: loss %.7g in the default layout, %.7g channels-last (%.2g relative)", a[0].Loss, b[0].Loss, d)
	}
	t.Logf("first step: loss %.7g default layout, %.7g channels-last", a[0].Loss, b[0].Loss)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := apply(t, ctx, res, Options{RunName: "part", OnStep: func(epoch, step, global int) {
		if global == 6 {
			cancel()
		}
	}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	part := filepath.Join(dir, "runs", "tiny", "part")
	if _, err := apply(t, context.Background(), res, Options{Resume: part}); err != nil {
		t.Fatal(err)
	}
	sameRun(t, filepath.Join(dir, "runs", "tiny", "full"), part)
}

// TestDataParallelChannelsLast: training.channels_last in a data-parallel run. With batch
// norms frozen (ddpExperiment, 8 steps), 2 ranks of batch 8 end with the weights of 1
// process of batch 16, both channels-last, within the bound and for the reason of
// TestDataParallelEqualsOneProcess (the same per-sample gradients, summed in another
// order; the channels-last gradients go through the buckets in their logical order). With
// synchronised batch norms in training mode (syncBNExperiment: 5 steps, the last one's
// second rank empty), the job runs to its end and its first step's loss is the one
// process's within TestChannelsLast's bound: libtorch's own channels-last batch norm (the
// one process's) sums its statistics in another order than the synchronised batch norm's
// var_mean, and 14 batch norms in training mode amplify that rounding (measured: 2.2e-5
// relative; the two-rank job gives the default layout's loss to 7 digits); statistics
// read in a wrong order would move the loss by its own magnitude, and per-rank
// statistics (no synchronisation) by 5.8e-3.
func TestDataParallelChannelsLast(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 6 processes (-short)")
	}
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	frozen := load(t, dir, ddpExperiment, "training.channels_last=true", "training.epochs=2", "training.validate_every=2")
	if _, err := apply(t, context.Background(), frozen, Options{RunName: "one"}); err != nil {
		t.Fatal(err)
	}
	for r, x := range spawnJob(t, frozen.Path, "two", 2, 0, "output.dir="+runs, "data.batch_size=8",
		"training.channels_last=true", "training.epochs=2", "training.validate_every=2") {
		if x.code != 0 {
			t.Fatalf("rank %d exited with %d:\n%s", r, x.code, x.stderr)
		}
	}
	a, b := lastCheckpoints(t, filepath.Join(runs, "ddp", "one"), filepath.Join(runs, "ddp", "two"), 8)
	worst := compareWeights(t, a.Model, b.Model, 1e-4)
	t.Logf("frozen batch norms: %d tensors, largest difference %.3g of a tensor's magnitude", len(a.Model), worst)

	dir = t.TempDir()
	runs = filepath.Join(dir, "runs")
	bn := load(t, dir, syncBNExperiment, "training.channels_last=true", "training.sync_batchnorm=true")
	if _, err := apply(t, context.Background(), bn, Options{RunName: "one"}); err != nil {
		t.Fatal(err)
	}
	for r, x := range spawnJob(t, bn.Path, "sync", 2, 0, "output.dir="+runs, "data.batch_size=8",
		"training.channels_last=true", "training.sync_batchnorm=true") {
		if x.code != 0 {
			t.Fatalf("rank %d exited with %d:\n%s", r, x.code, x.stderr)
		}
	}
	one := readSteps(t, filepath.Join(runs, "ddp", "one"))
	syncd := readSteps(t, filepath.Join(runs, "ddp", "sync"))
	if len(one) != 5 || len(syncd) != 5 {
		t.Fatalf("%d and %d step lines, want 5", len(one), len(syncd))
	}
	if d := math.Abs(one[0].Loss-syncd[0].Loss) / math.Abs(one[0].Loss); !(d <= 1e-3) {
		t.Errorf("first step: loss %.7g with one process, %.7g with two ranks and sync_batchnorm (%.2g relative)", one[0].Loss, syncd[0].Loss, d)
	}
	t.Logf("synchronised batch norms: first step loss %.7g one process, %.7g two ranks", one[0].Loss, syncd[0].Loss)
}
