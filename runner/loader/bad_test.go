package loader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
)

// TestSkipBad: with SkipBad an unreadable sample and one with a degenerate box are dropped
// from their batches, logged once per id over two epochs and counted every time.
func TestSkipBad(t *testing.T) {
	ds := &faulty{Dataset: newShapes(t, 10, 60, 45), fail: map[int]bool{3: true}, degenerate: map[int]bool{5: true}}
	tf := newTransform(t, "test", 32)
	m := newMatcher(t)
	var logs bytes.Buffer
	cfg := cfgOf(4, 2, 32)
	cfg.SkipBad = true
	l := newLoader(t, ds, tf, m, cfg, zerolog.New(&logs))
	for epoch := 0; epoch < 2; epoch++ {
		var sizes []int64
		var seen []string
		for _, d := range epochBatches(t, l, epoch) {
			sizes = append(sizes, d.imageShape[0])
			seen = append(seen, d.indices)
		}
		if !slices.Equal(sizes, []int64{3, 3, 2}) {
			t.Errorf("epoch %d: batch sizes %v, want [3 3 2] (samples 3 and 5 dropped)", epoch, sizes)
		}
		if !strings.HasPrefix(seen[0], "[0 1 2]") || !strings.HasPrefix(seen[1], "[4 6 7]") {
			t.Errorf("epoch %d: batches %v", epoch, seen)
		}
	}
	st := l.Stats()
	if st.Skipped != 4 || st.Loaded != 16 || !slices.Equal(st.SkippedIDs, []string{"shapes5_000003", "shapes5_000005"}) {
		t.Errorf("stats: skipped %d %v, loaded %d; want 4 [shapes5_000003 shapes5_000005], 16", st.Skipped, st.SkippedIDs, st.Loaded)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"level":"warn"`) || !strings.Contains(lines[0], "cannot decode") ||
		!strings.Contains(lines[1], "zero or negative width") || !strings.Contains(lines[1], "shapes5_000005") {
		t.Errorf("log, want one warning per bad id:\n%s", logs.String())
	}
}

// TestFailOnBad: without SkipBad, Next fails on the batch of the bad sample, naming it,
// after delivering the batches before it; the error is sticky.
func TestFailOnBad(t *testing.T) {
	for _, c := range []struct {
		name string
		ds   dataset.Dataset
		want string
	}{
		{"unreadable", &faulty{Dataset: newShapes(t, 10, 60, 45), fail: map[int]bool{5: true}}, "sample 5 (shapes5_000005): image sample5.jpg: cannot decode"},
		{"degenerate", &faulty{Dataset: newShapes(t, 10, 60, 45), degenerate: map[int]bool{5: true}}, `image "shapes5_000005": box`},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader(t, c.ds, newTransform(t, "test", 32), newMatcher(t), cfgOf(4, 2, 32), zerolog.Nop())
			it := l.Epoch(context.Background(), 0)
			defer it.Close()
			b, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b.Close()
			_, err = it.Next()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, again := it.Next(); again != err {
				t.Errorf("second Next: %v", again)
			}
		})
	}
}

// TestEveryBad: an epoch whose samples are all bad fails even with SkipBad.
func TestEveryBad(t *testing.T) {
	fail := map[int]bool{0: true, 1: true, 2: true}
	ds := &faulty{Dataset: newShapes(t, 3, 40, 30), fail: fail}
	cfg := cfgOf(2, 2, 32)
	cfg.SkipBad = true
	it := newLoader(t, ds, newTransform(t, "test", 32), newMatcher(t), cfg, zerolog.Nop()).Epoch(context.Background(), 0)
	defer it.Close()
	if _, err := it.Next(); err == nil || !strings.Contains(err.Error(), "every sample is bad (3 skipped)") {
		t.Errorf("error %v", err)
	}
}

// TestCorruptJPEG: a VOC folder with a damaged JPEG; the sample is skipped and the warning
// names the file.
func TestCorruptJPEG(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "voc")
	if err := dataset.WriteVOC(newShapes(t, 6, 80, 60), dir, "trainval"); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "JPEGImages", "shapes5_000002.jpg")
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, data[:len(data)/3], 0o644); err != nil { // truncated
		t.Fatal(err)
	}
	ds, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir}, Split: "trainval"}, dataset.Env{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := cfgOf(4, 2, 32)
	cfg.SkipBad = true
	l := newLoader(t, ds, newTransform(t, "ssd", 32), newMatcher(t), cfg, zerolog.New(&logs))
	it := l.Epoch(context.Background(), 0)
	defer it.Close()
	var got []int
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Indices...)
		b.Close()
	}
	if !slices.Equal(got, []int{0, 1, 3, 4, 5}) {
		t.Errorf("indices %v, want all but 2", got)
	}
	if !strings.Contains(logs.String(), "shapes5_000002.jpg") || !strings.Contains(logs.String(), `"id":"shapes5_000002"`) {
		t.Errorf("log does not name the file and id: %s", logs.String())
	}
}
