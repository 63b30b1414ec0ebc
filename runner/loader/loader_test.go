package loader

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestBatchesEqualDirectProcessing checks every value of every batch against the sample
// processed directly: the dataset's sample, the "ssd" transform with the sample's rng
// (Seed, epoch, index), boxes relative to the output, Match; the image channel-first.
// The shapes images are 8-bit RGBA, so the loader takes the transform's Apply8 path
// while the direct processing converts them with FromImage and calls Apply.
func TestBatchesEqualDirectProcessing(t *testing.T) {
	const size, epoch = 64, 3
	ds := newShapes(t, 10, 96, 72)
	tf := newTransform(t, "ssd", size)
	m := newMatcher(t)
	cfg := cfgOf(4, 2, size)
	l := newLoader(t, ds, tf, m, cfg, zerolog.Nop())
	if l.Len() != 3 {
		t.Fatalf("Len = %d, want 3", l.Len())
	}
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var seen []int
	for k := 0; ; k++ {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n := int64(min(4, 10-4*k))
		if got := b.Images.MustSize(); !slices.Equal(got, []int64{n, 3, size, size}) || b.Images.DType() != gotch.Float {
			t.Fatalf("batch %d: images %v %v", k, got, b.Images.DType())
		}
		if got := b.Loc.MustSize(); !slices.Equal(got, []int64{n, 3000, 4}) || b.Loc.DType() != gotch.Float {
			t.Fatalf("batch %d: loc %v %v", k, got, b.Loc.DType())
		}
		if got := b.Labels.MustSize(); !slices.Equal(got, []int64{n, 3000}) || b.Labels.DType() != gotch.Int64 {
			t.Fatalf("batch %d: labels %v %v", k, got, b.Labels.DType())
		}
		images, loc, labels := floats(t, b.Images), floats(t, b.Loc), int64s(t, b.Labels)
		for j, idx := range b.Indices {
			img, wantLoc, wantLabels, id := direct(t, l, epoch, idx)
			if b.IDs[j] != id || b.Sizes[j] != [2]int{96, 72} {
				t.Errorf("batch %d sample %d: id %s size %v, want %s [96 72]", k, j, b.IDs[j], b.Sizes[j], id)
			}
			if !bitEqual(images[j*len(img):(j+1)*len(img)], img) {
				t.Errorf("batch %d sample %d (index %d): image differs from direct processing", k, j, idx)
			}
			if !bitEqual(loc[j*len(wantLoc):(j+1)*len(wantLoc)], wantLoc) || !slices.Equal(labels[j*3000:(j+1)*3000], wantLabels) {
				t.Errorf("batch %d sample %d (index %d): targets differ from Match", k, j, idx)
			}
			if positives := countNonZero(wantLabels); positives == 0 {
				t.Errorf("index %d: no positive prior (the test would not check the encoding)", idx)
			}
		}
		seen = append(seen, b.Indices...)
		b.Close()
	}
	if !slices.Equal(seen, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("indices %v, want dataset order", seen)
	}
	if st := l.Stats(); st.Batches != 3 || st.Loaded != 10 || st.Skipped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// direct processes dataset index idx of epoch without the loader: CHW image, targets, id.
func direct(t *testing.T, l *Loader, epoch, idx int) ([]float32, []float32, []int64, string) {
	t.Helper()
	s, err := l.ds.Sample(idx)
	if err != nil {
		t.Fatal(err)
	}
	ts := FromImage(s.ID, s.Image, s.Objects)
	if err := l.tf.Apply(ts, sampleRand(l.cfg.Seed, epoch, idx)); err != nil {
		t.Fatal(err)
	}
	n := ts.W * ts.H
	img := make([]float32, 3*n)
	for p := 0; p < n; p++ {
		for c := 0; c < 3; c++ {
			img[c*n+p] = ts.Image[3*p+c]
		}
	}
	var flat []float32
	var labels []int64
	for k, b := range ts.Boxes {
		flat = append(flat, b[0]/float32(ts.W), b[1]/float32(ts.H), b[2]/float32(ts.W), b[3]/float32(ts.H))
		labels = append(labels, int64(ts.Labels[k]))
	}
	sc := torch.NewScope()
	defer sc.Close()
	gb, err := torch.FromSlices([]int64{int64(len(labels)), 4}, flat)
	if err != nil {
		t.Fatal(err)
	}
	gl, err := torch.FromSlices([]int64{int64(len(labels))}, labels)
	if err != nil {
		t.Fatal(err)
	}
	sc.Ts(gb, gl)
	loc, lab, err := l.m.Match(gb, gl)
	if err != nil {
		t.Fatal(err)
	}
	sc.Ts(loc, lab)
	return img, floats(t, loc), int64s(t, lab), s.ID
}

func bitEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func countNonZero(v []int64) int {
	n := 0
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return n
}

// TestDeterministicAcrossWorkers: the batches of an epoch are bit-identical for 1, 2 and 4
// workers and any prefetch depth, and differ between epochs.
func TestDeterministicAcrossWorkers(t *testing.T) {
	const size = 64
	ds := newShapes(t, 23, 120, 90)
	tf := newTransform(t, "ssd", size)
	m := newMatcher(t)
	run := func(workers, prefetch, epoch int) []batchDigest {
		cfg := cfgOf(5, workers, size)
		cfg.Shuffle, cfg.Prefetch = true, prefetch
		return epochBatches(t, newLoader(t, ds, tf, m, cfg, zerolog.Nop()), epoch)
	}
	for epoch := 0; epoch < 2; epoch++ {
		want := run(1, 1, epoch)
		if len(want) != 5 || want[4].imageShape[0] != 3 {
			t.Fatalf("epoch %d: %d batches, last of %d samples; want 5, last of 3", epoch, len(want), want[len(want)-1].imageShape[0])
		}
		for _, c := range []struct{ workers, prefetch int }{{2, 2}, {4, 1}, {4, 3}} {
			got := run(c.workers, c.prefetch, epoch)
			if !slices.EqualFunc(got, want, digestEqual) {
				t.Errorf("epoch %d: %d workers, prefetch %d: batches differ from 1 worker", epoch, c.workers, c.prefetch)
			}
		}
		t.Logf("epoch %d: %d batches bit-identical with 1, 2 and 4 workers; first indices %s", epoch, len(want), want[0].indices[:30])
	}
	e0, e1 := run(2, 2, 0), run(2, 2, 1)
	if e0[0].indices == e1[0].indices || e0[0].images == e1[0].images {
		t.Error("epochs 0 and 1 have the same first batch")
	}
}

func digestEqual(a, b batchDigest) bool {
	return a.indices == b.indices && a.images == b.images && a.loc == b.loc && a.labels == b.labels
}

// TestEpochOrder: a permutation that depends on (seed, epoch) only.
func TestEpochOrder(t *testing.T) {
	if got := epochOrder(5, false, 1, 3); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("unshuffled order %v", got)
	}
	a := epochOrder(100, true, 1, 0)
	if !slices.Equal(a, epochOrder(100, true, 1, 0)) {
		t.Error("the same (seed, epoch) gives different orders")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("order is not a permutation: %v", a)
		}
	}
	for _, other := range [][]int{epochOrder(100, true, 1, 1), epochOrder(100, true, 2, 0)} {
		if slices.Equal(a, other) {
			t.Error("another epoch or seed gives the same order")
		}
	}
	if sampleRand(1, 0, 5).Uint64() == sampleRand(1, 0, 6).Uint64() || sampleRand(1, 0, 5).Uint64() == sampleRand(1, 1, 5).Uint64() {
		t.Error("sample generators of different indices or epochs agree")
	}
}

// TestLenDropLast: 10 samples in batches of 4 give 4+4+2, or 4+4 with DropLast.
func TestLenDropLast(t *testing.T) {
	ds := newShapes(t, 10, 40, 30)
	tf := newTransform(t, "test", 32)
	m := newMatcher(t)
	for _, drop := range []bool{false, true} {
		cfg := cfgOf(4, 2, 32)
		cfg.DropLast = drop
		l := newLoader(t, ds, tf, m, cfg, zerolog.Nop())
		got := epochBatches(t, l, 0)
		var sizes []int64
		for _, d := range got {
			sizes = append(sizes, d.imageShape[0])
		}
		want := []int64{4, 4, 2}
		if drop {
			want = want[:2]
		}
		if !slices.Equal(sizes, want) || l.Len() != len(want) {
			t.Errorf("DropLast %v: batches of %v, Len %d; want %v", drop, sizes, l.Len(), want)
		}
	}
	cfg := cfgOf(16, 1, 32)
	cfg.DropLast = true
	l := newLoader(t, ds, tf, m, cfg, zerolog.Nop())
	if got := epochBatches(t, l, 0); len(got) != 0 || l.Len() != 0 {
		t.Errorf("a dataset smaller than one batch with DropLast gave %d batches (Len %d)", len(got), l.Len())
	}
}

// TestConfigErrors: invalid settings and a transform of the wrong output size fail.
func TestConfigErrors(t *testing.T) {
	ds := newShapes(t, 4, 40, 30)
	tf := newTransform(t, "test", 32)
	m := newMatcher(t)
	for _, c := range []Config{
		{BatchSize: 0, Prefetch: 1, ImageSize: 32},
		{BatchSize: 2, Workers: -1, Prefetch: 1, ImageSize: 32},
		{BatchSize: 2, Prefetch: 0, ImageSize: 32},
		{BatchSize: 2, Prefetch: 1, ImageSize: 0},
		{BatchSize: 2, Prefetch: 1, ImageSize: 32, Shard: Shard{Rank: 2, World: 2}},
		{BatchSize: 2, Prefetch: 1, ImageSize: 32, Shard: Shard{Rank: -1, World: 2}},
	} {
		if _, err := New(ds, tf, m, c, zerolog.Nop()); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(nil, tf, m, cfgOf(2, 1, 32), zerolog.Nop()); err == nil {
		t.Error("nil dataset accepted")
	}
	if l, err := New(ds, tf, m, cfgOf(2, 0, 32), zerolog.Nop()); err != nil || l.Config().Workers < 1 {
		t.Errorf("workers 0: %v, %+v", err, l.Config())
	}
	// Size mismatch: an error whatever SkipBad says.
	cfg := cfgOf(2, 2, 48)
	cfg.SkipBad = true
	it := newLoader(t, ds, tf, m, cfg, zerolog.Nop()).Epoch(context.Background(), 0)
	defer it.Close()
	if _, err := it.Next(); err == nil || !strings.Contains(err.Error(), "32x32 image, the loader expects 48x48") {
		t.Errorf("size mismatch: %v", err)
	}
}
