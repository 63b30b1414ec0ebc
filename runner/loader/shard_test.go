package loader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/rs/zerolog"
)

// sampleRows is one batch as per-sample rows: dataset index → the sample's image, location
// and label bytes.
type sampleRows struct {
	indices []int
	rows    [][3][]byte
}

func epochRows(t *testing.T, l *Loader, epoch, skip int) []sampleRows {
	t.Helper()
	it := l.EpochFrom(context.Background(), epoch, skip)
	defer it.Close()
	var out []sampleRows
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r := sampleRows{indices: slices.Clone(b.Indices)}
		if n := b.Len(); n > 0 {
			img, loc, lab := tensorBytes(t, b.Images), tensorBytes(t, b.Loc), tensorBytes(t, b.Labels)
			for i := range n {
				cut := func(p []byte) []byte { k := len(p) / n; return p[i*k : (i+1)*k] }
				r.rows = append(r.rows, [3][]byte{cut(img), cut(loc), cut(lab)})
			}
		} else if b.Images != nil {
			t.Fatal("an empty batch has tensors")
		}
		b.Close()
		out = append(out, r)
	}
}

// TestShardsMakeTheGlobalBatch: with World ranks of batch B, step k's batches of the ranks,
// in rank order, are exactly batch k of one loader of batch World×B, sample for sample and
// bit for bit (augmentation included), also from a skipped position, with a short last
// global batch split evenly and empty parts delivered as empty batches.
func TestShardsMakeTheGlobalBatch(t *testing.T) {
	const size = 64
	tf := newTransform(t, "ssd", size)
	m := newMatcher(t)
	for _, c := range []struct{ n, world, batch, skip int }{
		{23, 2, 3, 0}, // last global batch of 5: parts of 2 and 3
		{23, 3, 2, 1}, // last of 5: 1, 2, 2
		{7, 3, 2, 0},  // last of 1: ranks 0 and 1 get empty batches
	} {
		ds := newShapes(t, c.n, 120, 90)
		cfg := cfgOf(c.world*c.batch, 2, size)
		cfg.Shuffle = true
		one := newLoader(t, ds, tf, m, cfg, zerolog.Nop())
		want := epochRows(t, one, 1, c.skip)
		ranks := make([][]sampleRows, c.world)
		for r := range c.world {
			scfg := cfgOf(c.batch, 2, size)
			scfg.Shuffle, scfg.Shard = true, Shard{Rank: r, World: c.world}
			l := newLoader(t, ds, tf, m, scfg, zerolog.Nop())
			if l.Len() != one.Len() {
				t.Fatalf("%+v: rank %d: Len %d, one loader of the global batch %d", c, r, l.Len(), one.Len())
			}
			ranks[r] = epochRows(t, l, 1, c.skip)
			if len(ranks[r]) != len(want) {
				t.Fatalf("%+v: rank %d yields %d batches, want %d", c, r, len(ranks[r]), len(want))
			}
		}
		empty := 0
		for k := range want {
			var idx []int
			var rows [][3][]byte
			for r := range c.world {
				idx = append(idx, ranks[r][k].indices...)
				rows = append(rows, ranks[r][k].rows...)
				if len(ranks[r][k].indices) == 0 {
					empty++
				}
				if d := len(ranks[r][k].indices) - len(ranks[0][k].indices); d < -1 || d > 1 {
					t.Errorf("%+v: step %d: unbalanced parts", c, k)
				}
			}
			if !slices.Equal(idx, want[k].indices) {
				t.Fatalf("%+v: step %d: ranks' samples %v, one loader's %v", c, k, idx, want[k].indices)
			}
			for i := range rows {
				for j := range 3 {
					if !bytes.Equal(rows[i][j], want[k].rows[i][j]) {
						t.Fatalf("%+v: step %d, sample %d: tensor %d differs from one loader's", c, k, want[k].indices[i], j)
					}
				}
			}
		}
		if c.n == 7 && empty != 2 {
			t.Errorf("%+v: %d empty batches, want 2", c, empty)
		}
	}
}
