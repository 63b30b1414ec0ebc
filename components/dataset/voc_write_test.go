package dataset

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

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
