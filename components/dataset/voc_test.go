package dataset

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// goldenCase is one entry of testdata/vocref_golden.json, written by testdata/gen_golden.py
// from the reference's VOCDataset.
type goldenCase struct {
	Root          string   `json:"root"`
	Split         string   `json:"split"`
	KeepDifficult bool     `json:"keep_difficult"`
	ClassNames    []string `json:"class_names"`
	IDs           []string `json:"ids"`
	Annotations   []struct {
		ID        string       `json:"id"`
		Boxes     [][4]float64 `json:"boxes"`
		Labels    []int        `json:"labels"`
		Difficult []int        `json:"difficult"`
	} `json:"annotations"`
	Items []struct {
		Boxes  [][4]float64 `json:"boxes"`
		Labels []int        `json:"labels"`
	} `json:"items"`
}

// TestVOCMatchesReference compares ids, class names, annotations and training objects with
// what the reference returns for the same folders, exactly (float32 values included).
func TestVOCMatchesReference(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "vocref_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) != 5 {
		t.Fatalf("golden file has %d cases, want 5", len(cases))
	}
	roots := map[string]string{}
	for _, c := range cases {
		if roots[c.Root] == "" {
			roots[c.Root] = copyFixture(t, filepath.Join("vocref", c.Root))
		}
		name := c.Root + "/" + c.Split
		ds, err := Build(registry.Ref{Type: "voc", Options: map[string]any{
			"roots": []string{roots[c.Root]}, "split": c.Split, "keep_difficult": c.KeepDifficult}}, Env{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ds.ClassNames(); !slices.Equal(got, c.ClassNames) {
			t.Errorf("%s: class names %v, reference %v", name, got, c.ClassNames)
		}
		if ds.Len() != len(c.IDs) {
			t.Fatalf("%s: %d images, reference %d", name, ds.Len(), len(c.IDs))
		}
		for i, want := range c.Annotations {
			id, objs, err := ds.Annotation(i)
			if err != nil {
				t.Fatal(err)
			}
			if id != want.ID || id != c.IDs[i] {
				t.Errorf("%s[%d]: id %q, reference %q", name, i, id, want.ID)
			}
			var boxes [][4]float64
			var labels, difficult []int
			for _, o := range objs {
				boxes, labels = append(boxes, o.Box), append(labels, o.Label)
				d := 0
				if o.Difficult {
					d = 1
				}
				difficult = append(difficult, d)
			}
			wantDifficult := make([]int, len(want.Difficult))
			for k, d := range want.Difficult {
				if d != 0 {
					wantDifficult[k] = 1
				}
			}
			if !equalBoxes(boxes, want.Boxes) || !slices.Equal(labels, want.Labels) || !slices.Equal(difficult, wantDifficult) {
				t.Errorf("%s[%d] annotation: boxes %v labels %v difficult %v; reference %v %v %v",
					name, i, boxes, labels, difficult, want.Boxes, want.Labels, want.Difficult)
			}
			s, err := ds.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			boxes, labels = nil, nil
			for _, o := range s.Objects {
				boxes, labels = append(boxes, o.Box), append(labels, o.Label)
			}
			it := c.Items[i]
			if s.ID != want.ID || !equalBoxes(boxes, it.Boxes) || !slices.Equal(labels, it.Labels) {
				t.Errorf("%s[%d] sample %s: boxes %v labels %v; reference %v %v", name, i, s.ID, boxes, labels, it.Boxes, it.Labels)
			}
			if b := s.Image.Bounds(); b.Dx() != 8 || b.Dy() != 6 {
				t.Errorf("%s[%d]: image size %v", name, i, b)
			}
		}
	}
}

func equalBoxes(a, b [][4]float64) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

const goodObject = `<object><name>dog</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>`

func annotationXML(objects ...string) string {
	return "<annotation>" + strings.Join(objects, "") + "</annotation>"
}

func TestVOCMultipleRootsAndLabels(t *testing.T) {
	a := vocFolder(t, []string{"a1", "a2"}, map[string]string{
		"a1": annotationXML(goodObject), "a2": annotationXML()}, nil)
	b := vocFolder(t, []string{"b1"}, map[string]string{
		"b1": annotationXML(goodObject, strings.ReplaceAll(goodObject, "dog", "cat"))}, nil)
	base := filepath.Dir(a)
	ds, err := NewVOC(VOCConfig{Roots: []string{filepath.Base(a), b}, Split: "trainval"}, Env{BaseDir: base})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var counts []int
	for i := 0; i < ds.Len(); i++ {
		id, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		ids, counts = append(ids, id), append(counts, len(objs))
	}
	if !slices.Equal(ids, []string{"a1", "a2", "b1"}) || !slices.Equal(counts, []int{1, 0, 2}) {
		t.Errorf("concatenated roots: ids %v, object counts %v", ids, counts)
	}
	if _, _, err := ds.Annotation(3); err == nil {
		t.Error("Annotation(3) of 3 images: no error")
	}

	// An explicit labels file (model-labels layout: one per line, BACKGROUND first) applies to
	// every root and wins over a root's labels.txt.
	c := vocFolder(t, []string{"c1"}, map[string]string{"c1": annotationXML(goodObject)},
		map[string]string{"labels.txt": "horse,cow"})
	labels := filepath.Join(t.TempDir(), "model-labels.txt")
	writeFiles(t, filepath.Dir(labels), map[string]string{"model-labels.txt": "BACKGROUND\ncat\ndog\n"})
	ds, err = NewVOC(VOCConfig{Roots: []string{a, c}, Split: "trainval", Labels: labels}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "cat", "dog"}) {
		t.Errorf("explicit labels: %v", got)
	}
	if _, objs, _ := ds.Annotation(2); len(objs) != 1 || objs[0].Label != 2 {
		t.Errorf("explicit labels: objects of c1 %v", objs)
	}

	// Roots whose own labels differ cannot be mixed.
	_, err = NewVOC(VOCConfig{Roots: []string{a, c}, Split: "trainval"}, Env{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(c, "labels.txt")) {
		t.Errorf("roots with different labels: %v", err)
	}
	// A root's labels.txt alone: unknown classes are skipped (dog is not in horse,cow), or
	// an error with strict_classes.
	ds, err = NewVOC(VOCConfig{Roots: []string{c}, Split: "trainval"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, objs, _ := ds.Annotation(0); len(objs) != 0 || !slices.Equal(ds.ClassNames(), []string{"BACKGROUND", "horse", "cow"}) {
		t.Errorf("root labels.txt: classes %v, objects %v", ds.ClassNames(), objs)
	}
	_, err = NewVOC(VOCConfig{Roots: []string{c}, Split: "trainval", StrictClasses: true}, Env{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(c, "Annotations", "c1.xml")) || !strings.Contains(err.Error(), "object[0]") {
		t.Errorf("strict_classes: %v", err)
	}
}

func TestVOCKeepDifficult(t *testing.T) {
	hard := strings.Replace(goodObject, "<difficult>0</difficult>", "<difficult>1</difficult>", 1)
	noFlag := strings.Replace(goodObject, "<difficult>0</difficult>", "", 1)
	dir := vocFolder(t, []string{"x"}, map[string]string{"x": annotationXML(goodObject, hard, noFlag)}, nil)
	for _, keep := range []bool{false, true} {
		ds, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "trainval", KeepDifficult: keep}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		_, objs, _ := ds.Annotation(0)
		if len(objs) != 3 || objs[0].Difficult || !objs[1].Difficult || objs[2].Difficult {
			t.Errorf("keep_difficult=%v: Annotation %+v, want all 3 with the middle one difficult", keep, objs)
		}
		s, err := ds.Sample(0)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if keep {
			want = 3
		}
		if len(s.Objects) != want {
			t.Errorf("keep_difficult=%v: Sample has %d objects, want %d", keep, len(s.Objects), want)
		}
	}
}

// TestVOCBadInput checks that every kind of bad input is an error naming the file (and the
// object, where one is at fault).
func TestVOCBadInput(t *testing.T) {
	withBox := func(box string) string {
		return annotationXML(goodObject, `<object><name>cat</name><difficult>0</difficult><bndbox>`+box+`</bndbox></object>`)
	}
	cases := []struct {
		name, xml string
		want      []string
	}{
		{"malformed XML", "<annotation><object>", []string{"malformed XML"}},
		{"empty file", "", []string{"malformed XML"}},
		{"missing bndbox", annotationXML(goodObject, `<object><name>cat</name><difficult>0</difficult></object>`), []string{"object[1]", "missing <bndbox>"}},
		{"missing xmax", withBox(`<xmin>1</xmin><ymin>2</ymin><ymax>4</ymax>`), []string{"object[1]", "<xmax>"}},
		{"non-numeric", withBox(`<xmin>1</xmin><ymin>two</ymin><xmax>3</xmax><ymax>4</ymax>`), []string{"object[1]", `<ymin> "two"`}},
		{"NaN", withBox(`<xmin>NaN</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax>`), []string{"object[1]", "<xmin>"}},
		{"hex", withBox(`<xmin>0x1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax>`), []string{"object[1]", "<xmin>"}},
		{"xmax<=xmin", withBox(`<xmin>5</xmin><ymin>2</ymin><xmax>5</xmax><ymax>4</ymax>`), []string{"object[1]", "empty box"}},
		{"ymax<ymin", withBox(`<xmin>1</xmin><ymin>9</ymin><xmax>5</xmax><ymax>4</ymax>`), []string{"object[1]", "empty box"}},
		{"missing name", annotationXML(`<object><bndbox/></object>`), []string{"object[0]", "missing <name>"}},
		{"empty name", annotationXML(`<object><name> </name></object>`), []string{"object[0]", "empty <name>"}},
		{"bad difficult", annotationXML(strings.Replace(goodObject, ">0<", ">yes<", 1)), []string{"object[0]", "<difficult>"}},
		{"unsupported encoding", `<?xml version="1.0" encoding="koi8-r"?><annotation/>`, []string{"koi8-r"}},
		{"wrong root element", `<html><object><name>dog</name></object></html>`, []string{"the root element is <html>, not <annotation>"}},
	}
	for _, c := range cases {
		dir := vocFolder(t, []string{"good", "bad"}, map[string]string{"good": annotationXML(goodObject), "bad": c.xml}, nil)
		_, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "trainval"}, Env{})
		file := filepath.Join(dir, "Annotations", "bad.xml")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range append(c.want, file) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, w)
			}
		}
	}

	// Missing files: annotation, image, split, root, labels.
	dir := vocFolder(t, []string{"a", "b"}, map[string]string{"a": annotationXML(goodObject), "b": annotationXML()}, nil)
	missing := []struct {
		name   string
		remove string
		cfg    VOCConfig
	}{
		{"annotation", "Annotations/b.xml", VOCConfig{}},
		{"image", "JPEGImages/b.jpg", VOCConfig{}},
		{"split", "ImageSets/Main/trainval.txt", VOCConfig{}},
		{"test split", "", VOCConfig{Split: "test"}},
		{"labels", "", VOCConfig{Labels: filepath.Join(dir, "nolabels.txt")}},
		{"root", "", VOCConfig{Roots: []string{filepath.Join(dir, "elsewhere")}}},
	}
	for _, m := range missing {
		d := vocFolder(t, []string{"a", "b"}, map[string]string{"a": annotationXML(goodObject), "b": annotationXML()}, nil)
		cfg := m.cfg
		if cfg.Roots == nil {
			cfg.Roots = []string{d}
		}
		if cfg.Split == "" {
			cfg.Split = "trainval"
		}
		want := ""
		switch {
		case m.remove != "":
			want = filepath.Join(d, filepath.FromSlash(m.remove))
			if err := os.Remove(want); err != nil {
				t.Fatal(err)
			}
		case cfg.Labels != "":
			want = cfg.Labels
		case m.name == "root":
			want = cfg.Roots[0]
		default:
			want = filepath.Join(d, "ImageSets", "Main", "test.txt")
		}
		_, err := NewVOC(cfg, Env{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s: error %v does not name %s", m.name, err, want)
		}
	}

	// Bad labels files and an empty split.
	for name, content := range map[string]string{"duplicate": "cat,dog,Cat", "late BACKGROUND": "cat,BACKGROUND", "empty": " ,\n"} {
		d := vocFolder(t, []string{"a"}, map[string]string{"a": annotationXML(goodObject)}, map[string]string{"labels.txt": content})
		_, err := NewVOC(VOCConfig{Roots: []string{d}, Split: "trainval"}, Env{})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(d, "labels.txt")) {
			t.Errorf("labels.txt %s: %v", name, err)
		}
	}
	d := vocFolder(t, nil, nil, map[string]string{"ImageSets/Main/trainval.txt": "\n \n"})
	if _, err := NewVOC(VOCConfig{Roots: []string{d}, Split: "trainval"}, Env{}); err == nil || !strings.Contains(err.Error(), "lists no images") {
		t.Errorf("empty split: %v", err)
	}
}

func TestVOCImageDecoding(t *testing.T) {
	dir := vocFolder(t, []string{"jpg", "png", "corrupt", "truncated"}, map[string]string{
		"jpg": annotationXML(goodObject), "png": annotationXML(), "corrupt": annotationXML(), "truncated": annotationXML()}, nil)
	img := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	f, err := os.Create(filepath.Join(dir, "JPEGImages", "png.jpg")) // PNG content under .jpg, as OpenCV accepts
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeFiles(t, dir, map[string]string{
		"JPEGImages/corrupt.jpg":   "this is not an image",
		"JPEGImages/truncated.jpg": string(tinyJPEG(t)[:100]),
	})
	ds, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "trainval"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []image.Point{{8, 6}, {5, 3}} {
		s, err := ds.Sample(i)
		if err != nil || s.Image.Bounds().Size() != want {
			t.Errorf("sample %d: %v, %v", i, err, s.Image)
		}
	}
	for i, name := range []string{"corrupt.jpg", "truncated.jpg"} {
		_, err := ds.Sample(2 + i)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "JPEGImages", name)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	os.Remove(filepath.Join(dir, "JPEGImages", "jpg.jpg"))
	if _, err := ds.Sample(0); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "JPEGImages", "jpg.jpg")) {
		t.Errorf("image removed after build: %v", err)
	}
}

func TestParseLabels(t *testing.T) {
	cases := map[string][]string{
		"circle, square,\ntriangle\n": {"BACKGROUND", "circle", "square", "triangle"},
		"BACKGROUND\ncat\ndog\n":      {"BACKGROUND", "cat", "dog"},
		"cat\r\ndog\r\n":              {"BACKGROUND", "cat", "dog"},
		"potted plant,dining table":   {"BACKGROUND", "pottedplant", "diningtable"},
		"cat,,dog,":                   {"BACKGROUND", "cat", "dog"},
	}
	for in, want := range cases {
		got, err := parseLabels([]byte(in), "x")
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseLabels(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestVOCConfig(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{}, `missing required option "roots"`},
		{map[string]any{"roots": []string{}}, "at least one"},
		{map[string]any{"roots": []string{"x"}, "split": "../x"}, "plain file name"},
		{map[string]any{"roots": []string{"x"}, "keep_dificult": true}, `did you mean "keep_difficult"`},
	} {
		_, err := Build(registry.Ref{Type: "voc", Options: c.opts}, Env{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(voc, %v) = %v, want an error containing %q", c.opts, err, c.want)
		}
	}
}
