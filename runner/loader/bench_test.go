package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
)

// BenchmarkLoaderVOC loads epochs of 200 VOC-sized (500x375) JPEGs written as a VOC folder
// and read back with the "voc" dataset: decoding, the full "ssd" augmentation to 300x300,
// target encoding over the mobilenet priors and batching (32). One op is one epoch; the
// metric images/s is what the training loop could consume; cpu-ms/img is the process's CPU
// time per image (every thread), which other processes on a shared machine disturb less.
func BenchmarkLoaderVOC(b *testing.B) {
	const images = 200
	dir := filepath.Join(b.TempDir(), "voc")
	src := newShapesVOC(b, images)
	if err := dataset.WriteVOC(src, dir, "trainval"); err != nil {
		b.Fatal(err)
	}
	ds, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir}, Split: "trainval"}, dataset.Env{})
	if err != nil {
		b.Fatal(err)
	}
	tf := newTransform(b, "ssd", 300)
	m := newMatcher(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg := Config{BatchSize: 32, Workers: workers, Prefetch: 2, Shuffle: true, Seed: 1, ImageSize: 300}
			l, err := New(ds, tf, m, cfg, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start, cpu0 := time.Now(), processCPU()
			for epoch := 0; epoch < b.N; epoch++ {
				it := l.Epoch(context.Background(), epoch)
				for {
					batch, err := it.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					batch.Close()
				}
				it.Close()
			}
			elapsed, cpu := time.Since(start), processCPU()-cpu0
			b.ReportMetric(float64(images*b.N)/elapsed.Seconds(), "images/s")
			b.ReportMetric(float64(cpu)/1e6/float64(images*b.N), "cpu-ms/img")
			st := l.Stats()
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(st.Loaded) }
			b.ReportMetric(per(st.Read), "read-ms/img")
			b.ReportMetric(per(st.Transform), "transform-ms/img")
			b.ReportMetric(per(st.Target), "target-ms/img")
			b.ReportMetric(per(st.Layout+st.Collate), "layout-ms/img")
		})
	}
}

// newShapesVOC is the synthetic dataset at VOC's typical image size.
func newShapesVOC(tb testing.TB, count int) *shapes.Dataset {
	tb.Helper()
	return newShapes(tb, count, 500, 375)
}
