package train

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/config"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// BenchmarkLoopOverhead measures the training loop against its own limit: images/s of
// whole epochs of `runner apply`'s loop (loading, augmentation, matching, the step,
// logging; validation excluded) against the bare step (forward, loss, backward, update)
// on the same batches held in memory, side by side in alternating rounds, with a small
// model (MobileNetV1x0.25 SSD-Lite) at batch 16 on generated shapes and the machine's
// cores. It reports loop/bare as "loop_time_ratio" (1.0 = no overhead) and both rates.
// With a step this cheap the loader's own CPU work weighs most; the case is
// BenchmarkLoopOverheadMB2VOC.
func BenchmarkLoopOverhead(b *testing.B) {
	dir := b.TempDir()
	res := load(&testing.T{}, dir, tinyExperiment, "data.train.count=96", "data.batch_size=16", "data.workers=0",
		"training.threads=0", "training.log_every=1000000", "model.backbone.width_mult=0.25", "training.epochs=100")
	loopOverhead(b, dir, res)
}

// BenchmarkLoopOverheadMB2VOC is BenchmarkLoopOverhead on the target's case:
// experiments/mb2-ssdlite-voc.hcl from scratch (its loader: 4 workers, the reference's
// augmentation), batch 16, on a VOC folder of 96 generated 500x375 JPEGs (as refbench's
// whole-epoch case), the machine's cores. The target: loop/bare <= 1.05.
func BenchmarkLoopOverheadMB2VOC(b *testing.B) {
	dir := b.TempDir()
	voc := filepath.Join(dir, "voc")
	c := shapes.DefaultConfig()
	c.Count, c.Seed, c.ImageWidth, c.ImageHeight = 96, 1, 500, 375
	src, err := shapes.New(c)
	if err != nil {
		b.Fatal(err)
	}
	if err := dataset.WriteVOC(src, voc, "trainval"); err != nil {
		b.Fatal(err)
	}
	recipe, err := filepath.Abs(filepath.Join("..", "..", "experiments", "mb2-ssdlite-voc.hcl"))
	if err != nil {
		b.Fatal(err)
	}
	text := fmt.Sprintf(`inherits = [%q]
model {
  init {
    base_net = ""
  }
}
data {
  train "voc" {
    roots = [%q]
    split = "trainval"
  }
  validation "voc" {
    roots = [%q]
    split = "trainval"
  }
}
`, recipe, voc, voc)
	res := load(&testing.T{}, dir, text, "data.batch_size=16", "training.threads=0", "training.log_every=1000000", "training.epochs=100")
	loopOverhead(b, dir, res)
}

// loopOverhead times res's loop against its bare step (see BenchmarkLoopOverhead).
func loopOverhead(b *testing.B, dir string, res *config.Result) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
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
	tr.closeAhead()
	var ratios []float64
	var loopRate, bareRate float64
	// Each round: two passes of the bare step over the batches, then two epochs of the
	// loop timed in the middle of a run: an untimed epoch before them (whose last step
	// starts the first timed epoch's loader, as in a run) and the epoch after them started
	// during the last timed step (its loader's work is paid for inside the window and
	// thrown away after it). So the window holds what every epoch of a run but its first
	// pays: one epoch's start ahead, beside its last step, per epoch. The first epoch of a
	// run waits once for its first batch; the untimed epoch's wait is reported apart.
	tr.e.Training.Epochs = 1 << 20
	epoch := 1
	var coldWait time.Duration
	var win statsSum
	for round := 0; round < 3; round++ {
		t0 := time.Now()
		for range 2 {
			for i, bt := range batches {
				tr.setLR(0, i)
				if _, _, err := tr.step(bt); err != nil {
					b.Fatal(err)
				}
			}
		}
		bare := time.Since(t0).Seconds()
		w0 := tr.train.Stats().Wait
		if _, _, err := tr.trainEpoch(epoch, 0); err != nil {
			b.Fatal(err)
		}
		coldWait += tr.train.Stats().Wait - w0
		before := tr.train.Stats()
		t0 = time.Now()
		for e := range 2 {
			if _, _, err := tr.trainEpoch(epoch+1+e, 0); err != nil {
				b.Fatal(err)
			}
		}
		loop := time.Since(t0).Seconds()
		tr.closeAhead()
		win.add(before, tr.train.Stats())
		epoch += 3
		ratios = append(ratios, loop/bare)
		loopRate, bareRate = float64(2*images)/loop, float64(2*images)/bare
	}
	perImage := func(d time.Duration) float64 {
		return float64(d) / float64(time.Millisecond) / float64(win.loaded)
	}
	work := perImage(win.read) + perImage(win.transform) + perImage(win.target) + perImage(win.layout) + perImage(win.collate)
	sort.Float64s(ratios)
	b.ReportMetric(ratios[1], "loop_time_ratio")
	b.ReportMetric(work, "loader_ms/image")
	b.ReportMetric(perImage(win.wait), "wait_ms/image")
	b.Logf("loader, ms per image of the timed epochs: read %.2f, transform %.2f, target %.2f, layout %.2f, collate %.2f (wall time of its goroutines, summed); the loop waited %.2f; the untimed epoch before them waited %.0f ms for its first batch (mean of the rounds; a run's first epoch does once)",
		perImage(win.read), perImage(win.transform), perImage(win.target), perImage(win.layout), perImage(win.collate), perImage(win.wait),
		float64(coldWait)/float64(time.Millisecond)/3)
	b.ReportMetric(loopRate, "loop_images/s")
	b.ReportMetric(bareRate, "bare_images/s")
	b.Logf("loop/bare time: median %.3f (rounds %.3f–%.3f); last round %.1f vs %.1f images/s (%d threads)",
		ratios[1], ratios[0], ratios[2], loopRate, bareRate, torch.Threads())
}

// statsSum sums the loader's Stats over the timed windows.
type statsSum struct {
	loaded                                         int64
	read, transform, target, layout, collate, wait time.Duration
}

func (w *statsSum) add(a, b loader.Stats) {
	w.loaded += b.Loaded - a.Loaded
	w.read += b.Read - a.Read
	w.transform += b.Transform - a.Transform
	w.target += b.Target - a.Target
	w.layout += b.Layout - a.Layout
	w.collate += b.Collate - a.Collate
	w.wait += b.Wait - a.Wait
}
