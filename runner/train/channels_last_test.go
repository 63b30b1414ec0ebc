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
