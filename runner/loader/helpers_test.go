package loader

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// newMatcher returns a matcher over the mobilenet priors (3000), closed at the end of the test.
func newMatcher(tb testing.TB) *target.Matcher {
	tb.Helper()
	gen, err := anchors.Build(registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": "mobilenet"}})
	if err != nil {
		tb.Fatal(err)
	}
	priors, err := gen.Priors()
	if err != nil {
		tb.Fatal(err)
	}
	defer priors.MustDrop()
	m, err := target.NewMatcher(priors, 0.5, boxes.DefaultVariances)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m
}

// newShapes returns a small synthetic dataset of count images of w x h pixels.
func newShapes(tb testing.TB, count, w, h int) *shapes.Dataset {
	tb.Helper()
	c := shapes.DefaultConfig()
	c.Count, c.Seed, c.ImageWidth, c.ImageHeight = count, 5, w, h
	ds, err := shapes.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

// newTransform builds a registered transform ("ssd", "test") of output size.
func newTransform(tb testing.TB, kind string, size int) transform.Transform {
	tb.Helper()
	tf, err := transform.Build(registry.Ref{Type: kind, Options: map[string]any{"size": size}})
	if err != nil {
		tb.Fatal(err)
	}
	return tf
}

// cfgOf is a loader configuration for tests.
func cfgOf(batch, workers int, size int) Config {
	return Config{BatchSize: batch, Workers: workers, Prefetch: 2, Seed: 11, ImageSize: size}
}

func newLoader(tb testing.TB, ds dataset.Dataset, tf transform.Transform, m *target.Matcher, cfg Config, log zerolog.Logger) *Loader {
	tb.Helper()
	l, err := New(ds, tf, m, cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// epochBatches runs a whole epoch and returns a digest of every batch (and closes them).
func epochBatches(tb testing.TB, l *Loader, epoch int) []batchDigest {
	tb.Helper()
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var out []batchDigest
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, digest(tb, b))
		b.Close()
	}
}

// batchDigest summarises a batch: its samples and a hash of each tensor's bytes.
type batchDigest struct {
	indices              string
	images, loc, labels  [32]byte
	imageShape, locShape []int64
}

func digest(tb testing.TB, b *Batch) batchDigest {
	tb.Helper()
	return batchDigest{
		indices:    fmt.Sprint(b.Indices, b.IDs, b.Sizes),
		images:     sha256.Sum256(tensorBytes(tb, b.Images)),
		loc:        sha256.Sum256(tensorBytes(tb, b.Loc)),
		labels:     sha256.Sum256(tensorBytes(tb, b.Labels)),
		imageShape: b.Images.MustSize(),
		locShape:   b.Loc.MustSize(),
	}
}

// tensorBytes returns a copy of the raw bytes of a contiguous float32 or int64 CPU tensor.
func tensorBytes(tb testing.TB, t *ts.Tensor) []byte {
	tb.Helper()
	es := 8
	if t.DType() == gotch.Float {
		es = 4
	}
	p, err := t.DataPtr()
	if err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), unsafe.Slice((*byte)(p), int(t.Numel())*es)...)
}

// floats and int64s read a tensor's values.
func floats(tb testing.TB, t *ts.Tensor) []float32 {
	tb.Helper()
	v := make([]float32, t.Numel())
	if err := torch.CopyTo(t, v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func int64s(tb testing.TB, t *ts.Tensor) []int64 {
	tb.Helper()
	v := make([]int64, t.Numel())
	if err := torch.CopyTo(t, v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// waitGoroutines waits up to 2 s for the goroutine count to fall to at most n.
func waitGoroutines(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			tb.Fatalf("%d goroutines remain, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faulty wraps a dataset: Sample fails for the indices in fail, and returns a degenerate
// box (zero width) for those in degenerate.
type faulty struct {
	dataset.Dataset
	fail, degenerate map[int]bool
}

func (f *faulty) Sample(i int) (dataset.Sample, error) {
	if f.fail[i] {
		return dataset.Sample{}, fmt.Errorf("image sample%d.jpg: cannot decode: unexpected EOF", i)
	}
	s, err := f.Dataset.Sample(i)
	if err == nil && f.degenerate[i] {
		s.Objects = append(s.Objects, dataset.Object{Box: [4]float64{10, 10, 10, 20}, Label: 1})
	}
	return s, err
}
