package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// The loader cases share with reference.py a VOC folder of loaderImages synthetic images of
// VOC's typical size (500x375 JPEGs), batches of 32, the "ssd" augmentation to 300x300
// (mean 127, std 128) and targets over the mobilenet priors (IoU 0.5, variances 0.1/0.2).
// Times are per image: an epoch's wall time divided by its images, so the ratio < 1 means
// our loader is faster, like the other cases.
const (
	loaderImages = 200
	loaderBatch  = 32
)

func loaderCases() []benchCase {
	dir := loaderFolder()
	var out []benchCase
	for _, workers := range []int{1, 2} {
		out = append(out, benchCase{
			name:   fmt.Sprintf("loader ms/image (ratio < 1: ours faster), %d worker(s)", workers),
			ref:    fmt.Sprintf("loader:%d:%s", workers, dir),
			reps:   3,
			target: "≤ 0.5 (≥ 2× faster)",
			ours:   msOnly(func(reps int) ([]float64, error) { return timeLoader(reps, workers, dir) }),
		})
	}
	return out
}

// loaderFolder is where the shared VOC folder is written (once; later runs reuse it).
func loaderFolder() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("ssdrunner-refbench-voc%d", loaderImages))
}

var (
	folderOnce sync.Once
	folderErr  error
)

// ensureFolder writes the VOC folder unless a complete one is there (WriteVOC writes the
// split file last).
func ensureFolder(dir string) error {
	folderOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "ImageSets", "Main", "trainval.txt")); err == nil {
			return
		}
		c := shapes.DefaultConfig()
		c.Count, c.Seed, c.ImageWidth, c.ImageHeight = loaderImages, 1, 500, 375
		src, err := shapes.New(c)
		if err != nil {
			folderErr = err
			return
		}
		folderErr = dataset.WriteVOC(src, dir, "trainval")
	})
	return folderErr
}

// timeLoader returns our loader's milliseconds per image over reps epochs (after one
// warm-up epoch), with the given worker count.
func timeLoader(reps, workers int, dir string) ([]float64, error) {
	if err := ensureFolder(dir); err != nil {
		return nil, err
	}
	ds, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir}, Split: "trainval"}, dataset.Env{})
	if err != nil {
		return nil, err
	}
	tf, err := transform.Build(registry.Ref{Type: "ssd", Options: map[string]any{"size": 300, "mean": []float64{127}, "std": []float64{128}}})
	if err != nil {
		return nil, err
	}
	m, err := mobilenetMatcher()
	if err != nil {
		return nil, err
	}
	defer m.Close()
	cfg := loader.Config{BatchSize: loaderBatch, Workers: workers, Prefetch: 2, Shuffle: true, Seed: 1, ImageSize: 300}
	l, err := loader.New(ds, tf, m, cfg, zerolog.Nop())
	if err != nil {
		return nil, err
	}
	epoch := 0
	tm, err := timeReps(reps, func() error {
		epoch++
		return runEpoch(l, epoch)
	})
	ms := tm.ms
	for i := range ms {
		ms[i] /= float64(ds.Len())
	}
	return ms, err
}

// runEpoch consumes (and frees) every batch of one epoch.
func runEpoch(l *loader.Loader, epoch int) error {
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b.Close()
	}
}
