package dataset_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/dataset/shapes"
	"github.com/ssdrunner/ssdrunner/registry"
)

// newShapes builds the "shapes" dataset through the registry, as experiment files do.
func newShapes(t testing.TB, opts map[string]any) dataset.Dataset {
	t.Helper()
	ds, err := dataset.Build(registry.Ref{Type: "shapes", Options: opts}, dataset.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestWriteVOCRoundTrip writes shapes as VOC and reads them back with the "voc" reader:
// ids, classes and boxes must be identical, images equal up to JPEG compression.
func TestWriteVOCRoundTrip(t *testing.T) {
	src := newShapes(t, map[string]any{"count": 24, "seed": 3})
	dir := filepath.Join(t.TempDir(), "shapes-voc")
	if err := dataset.WriteVOC(src, dir, "train"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "labels.txt")); string(data) != strings.Join(shapes.Names(), ",")+"\n" {
		t.Errorf("labels.txt = %q", data)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	back, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir}, Split: "train"}, dataset.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.ClassNames(), src.ClassNames()) || back.Len() != src.Len() {
		t.Fatalf("read back %d images of %v; wrote %d of %v", back.Len(), back.ClassNames(), src.Len(), src.ClassNames())
	}
	worstRGB, worstLuma := 0.0, 0.0
	for i := 0; i < src.Len(); i++ {
		want, err := src.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		id, objs, _ := back.Annotation(i)
		if got.ID != want.ID || id != want.ID || !reflect.DeepEqual(got.Objects, want.Objects) || !reflect.DeepEqual(objs, want.Objects) {
			t.Errorf("sample %d: read back %s %v, wrote %s %v", i, got.ID, got.Objects, want.ID, want.Objects)
		}
		if got.Image.Bounds() != want.Image.Bounds() {
			t.Fatalf("sample %d: size %v, wrote %v", i, got.Image.Bounds(), want.Image.Bounds())
		}
		dRGB, dLuma := dataset.MeanAbsDiff(got.Image, want.Image)
		worstRGB, worstLuma = max(worstRGB, dRGB), max(worstLuma, dLuma)
	}
	// JPEG (Go's encoder always subsamples chroma 4:2:0) loses colour detail at the sharp,
	// saturated edges of stripes and checkers; luma stays close.
	t.Logf("after JPEG quality %d, worst image mean absolute difference: RGB %.2f, luma %.2f", dataset.VOCJPEGQuality, worstRGB, worstLuma)
	if worstRGB > 12 || worstLuma > 3 {
		t.Errorf("mean absolute difference after JPEG: RGB %.2f, luma %.2f", worstRGB, worstLuma)
	}

	// A second split into the same folder (another seed, so other ids) keeps the first one.
	if err := dataset.WriteVOC(newShapes(t, map[string]any{"count": 5, "seed": 4}), dir, "test"); err != nil {
		t.Fatal(err)
	}
	both, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir, dir}, Split: "train"}, dataset.Env{})
	if err != nil || both.Len() != 48 {
		t.Fatalf("the same root twice: %v, %d images", err, both.Len())
	}
	test, err := dataset.NewVOC(dataset.VOCConfig{Roots: []string{dir}, Split: "test"}, dataset.Env{})
	if err != nil || test.Len() != 5 {
		t.Fatalf("test split: %v", err)
	}
}
