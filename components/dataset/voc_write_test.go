package dataset

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestWriteVOCRoundTrip writes shapes as VOC and reads them back with the "voc" reader:
// ids, classes and boxes must be identical, images equal up to JPEG compression.
func TestWriteVOCRoundTrip(t *testing.T) {
	src := newShapes(t, map[string]any{"count": 24, "seed": 3})
	dir := filepath.Join(t.TempDir(), "shapes-voc")
	if err := WriteVOC(src, dir, "train"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "labels.txt")); string(data) != strings.Join(shapeNames, ",")+"\n" {
		t.Errorf("labels.txt = %q", data)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	back, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "train"}, Env{})
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
		dRGB, dLuma := meanAbsDiff(got.Image, want.Image)
		worstRGB, worstLuma = max(worstRGB, dRGB), max(worstLuma, dLuma)
	}
	// JPEG (Go's encoder always subsamples chroma 4:2:0) loses colour detail at the sharp,
	// saturated edges of stripes and checkers; luma stays close.
	t.Logf("after JPEG quality %d, worst image mean absolute difference: RGB %.2f, luma %.2f", vocJPEGQuality, worstRGB, worstLuma)
	if worstRGB > 12 || worstLuma > 3 {
		t.Errorf("mean absolute difference after JPEG: RGB %.2f, luma %.2f", worstRGB, worstLuma)
	}

	// A second split into the same folder (another seed, so other ids) keeps the first one.
	if err := WriteVOC(newShapes(t, map[string]any{"count": 5, "seed": 4}), dir, "test"); err != nil {
		t.Fatal(err)
	}
	both, err := NewVOC(VOCConfig{Roots: []string{dir, dir}, Split: "train"}, Env{})
	if err != nil || both.Len() != 48 {
		t.Fatalf("the same root twice: %v, %d images", err, both.Len())
	}
	test, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "test"}, Env{})
	if err != nil || test.Len() != 5 {
		t.Fatalf("test split: %v", err)
	}
}

// fakeDataset serves fixed samples; fail makes Sample(fail) return an error.
type fakeDataset struct {
	names   []string
	samples []Sample
	fail    int
}

func (f *fakeDataset) Len() int             { return len(f.samples) }
func (f *fakeDataset) ClassNames() []string { return f.names }
func (f *fakeDataset) Sample(i int) (Sample, error) {
	if i == f.fail {
		return Sample{}, errors.New("broken sample")
	}
	return f.samples[i], nil
}
func (f *fakeDataset) Annotation(i int) (string, []Object, error) {
	return f.samples[i].ID, f.samples[i].Objects, nil
}

func fakeSamples(n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{ID: "img" + string(rune('a'+i)), Image: image.NewRGBA(image.Rect(0, 0, 20, 10)),
			Objects: []Object{{Box: [4]float64{0.5, 1.25, 10, 9}, Label: 1, Difficult: i%2 == 0}}}
	}
	return out
}

func TestWriteVOCFractionalBoxesAndDifficult(t *testing.T) {
	ds := &fakeDataset{names: []string{"BACKGROUND", "thing"}, samples: fakeSamples(3), fail: -1}
	dir := t.TempDir()
	if err := WriteVOC(ds, dir, "trainval"); err != nil {
		t.Fatal(err)
	}
	back, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "trainval", KeepDifficult: true}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ds.samples {
		_, objs, _ := back.Annotation(i)
		if !reflect.DeepEqual(objs, s.Objects) {
			t.Errorf("sample %d: read back %v, wrote %v", i, objs, s.Objects)
		}
	}
}

func TestWriteVOCErrors(t *testing.T) {
	good := func() *fakeDataset {
		return &fakeDataset{names: []string{"BACKGROUND", "thing"}, samples: fakeSamples(4), fail: -1}
	}
	cases := []struct {
		name  string
		ds    *fakeDataset
		split string
		want  string
	}{
		{"split", good(), "a/b", "split"},
		{"no classes", &fakeDataset{names: []string{"BACKGROUND"}}, "x", "class names"},
		{"comma in class", &fakeDataset{names: []string{"BACKGROUND", "a,b"}}, "x", `"a,b"`},
		{"id", func() *fakeDataset { d := good(); d.samples[1].ID = "../x"; return d }(), "x", `"../x"`},
		{"duplicate id", func() *fakeDataset { d := good(); d.samples[3].ID = d.samples[0].ID; return d }(), "x", "same id"},
		{"label", func() *fakeDataset { d := good(); d.samples[2].Objects[0].Label = 2; return d }(), "x", "label 2"},
	}
	for _, c := range cases {
		err := WriteVOC(c.ds, t.TempDir(), c.split)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// An interrupted run: what was written is complete and readable; no split file yet.
	ds := good()
	ds.fail = 2
	dir := t.TempDir()
	err := WriteVOC(ds, dir, "x")
	if err == nil || !strings.Contains(err.Error(), "broken sample") {
		t.Fatalf("failing sample: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ImageSets", "Main", "x.txt")); !os.IsNotExist(err) {
		t.Errorf("split file written after a failure: %v", err)
	}
	written, _ := filepath.Glob(filepath.Join(dir, "Annotations", "*.xml"))
	if len(written) == 0 {
		t.Fatal("nothing written before the failure")
	}
	var ids []string
	for _, f := range written {
		ids = append(ids, strings.TrimSuffix(filepath.Base(f), ".xml"))
	}
	writeFiles(t, dir, map[string]string{"ImageSets/Main/written.txt": strings.Join(ids, "\n")})
	back, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "written"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < back.Len(); i++ {
		if _, err := back.Sample(i); err != nil {
			t.Error(err)
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}
