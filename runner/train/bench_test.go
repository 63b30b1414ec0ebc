package train

import (
	"context"
	"io"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// BenchmarkLoopOverhead measures the training loop against its own limit: images/s of
// whole epochs of `runner apply`'s loop (loading, augmentation, matching, the step,
// logging; validation excluded) against the bare step (forward, loss, backward, update)
// on the same batches held in memory, side by side in alternating rounds, with the
// quickstart model at batch 16 and the machine's cores. It reports loop/bare as
// "loop_time_ratio" (1.0 = no overhead; the target is <= 1.05) and both rates.
func BenchmarkLoopOverhead(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := b.TempDir()
	res := load(&testing.T{}, dir, tinyExperiment, "data.train.count=96", "data.batch_size=16", "data.workers=0",
		"training.threads=0", "training.log_every=1000000", "model.backbone.width_mult=0.25")
	torch.SetThreads(0)
	run, err := build.Build(res, build.Options{Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer run.Close()
	tr := &trainer{ctx: context.Background(), res: res, e: &res.Experiment, run: run, log: zerolog.Nop(), now: time.Now,
		skipped: map[string]bool{}, opts: Options{Console: io.Discard}, console: newConsole(io.Discard, false)}
	tr.vars = modelVars(run.Model)
	files, err := openRunFiles(dir, tr.e, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer files.Close()
	tr.files = files
	if err := tr.buildLoaders(); err != nil {
		b.Fatal(err)
	}
	// the batches of epoch 0, held in memory for the bare step
	var batches []*loader.Batch
	it := tr.train.Epoch(context.Background(), 0)
	for {
		bt, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		batches = append(batches, bt)
	}
	it.Close()
	defer func() {
		for _, bt := range batches {
			bt.Close()
		}
	}()
	images := 0
	for _, bt := range batches {
		images += bt.Len()
	}
	// warm up both paths once
	if _, _, err := tr.trainEpoch(0, 0); err != nil {
		b.Fatal(err)
	}
	var ratios []float64
	var loopRate, bareRate float64
	for round := 0; round < 3; round++ {
		t0 := time.Now()
		for i, bt := range batches {
			tr.setLR(0, i)
			if _, _, err := tr.step(bt); err != nil {
				b.Fatal(err)
			}
		}
		bare := time.Since(t0).Seconds()
		t0 = time.Now()
		if _, _, err := tr.trainEpoch(round+1, 0); err != nil {
			b.Fatal(err)
		}
		loop := time.Since(t0).Seconds()
		ratios = append(ratios, loop/bare)
		loopRate, bareRate = float64(images)/loop, float64(images)/bare
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[1], "loop_time_ratio")
	b.ReportMetric(loopRate, "loop_images/s")
	b.ReportMetric(bareRate, "bare_images/s")
	b.Logf("loop/bare time: median %.3f (rounds %.3f–%.3f); last round %.1f vs %.1f images/s (%d threads)",
		ratios[1], ratios[0], ratios[2], loopRate, bareRate, torch.Threads())
}
