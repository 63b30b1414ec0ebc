package dataset

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// csvFixture writes data.csv (content) and 30×20 images a.jpg, sub/b.png and c.jpg in a new
// folder, and returns the folder.
func csvFixture(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"data.csv": content})
	writeImage(t, filepath.Join(dir, "a.jpg"), 30, 20, false)
	writeImage(t, filepath.Join(dir, "sub", "b.png"), 30, 20, true)
	writeImage(t, filepath.Join(dir, "c.jpg"), 30, 20, false)
	return dir
}

type csvWant struct {
	id     string
	boxes  [][4]float64
	labels []int
}

func checkCSV(t *testing.T, name string, ds Dataset, names []string, want []csvWant) {
	t.Helper()
	if got := ds.ClassNames(); !slices.Equal(got, names) {
		t.Errorf("%s: class names %q, want %q", name, got, names)
	}
	if ds.Len() != len(want) {
		t.Fatalf("%s: %d images, want %d", name, ds.Len(), len(want))
	}
	for i, w := range want {
		id, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		boxes, labels := objectsOf(objs)
		if id != w.id || !equalBoxes(boxes, w.boxes) || !slices.Equal(labels, w.labels) {
			t.Errorf("%s[%d]: %s %v %v, want %s %v %v", name, i, id, boxes, labels, w.id, w.boxes, w.labels)
		}
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		sb, sl := objectsOf(s.Objects)
		if s.ID != w.id || !equalBoxes(sb, w.boxes) || !slices.Equal(sl, w.labels) {
			t.Errorf("%s[%d] sample: %s %v %v, want %s %v %v", name, i, s.ID, sb, sl, w.id, w.boxes, w.labels)
		}
		if b := s.Image.Bounds(); b.Dx() != 30 || b.Dy() != 20 {
			t.Errorf("%s[%d]: image size %v", name, i, b)
		}
	}
}

const csvRows = "a.jpg,1,2,10,20,cat\n" +
	"sub/b.png, 0 ,0,5.5,5,dog\n" +
	"a.jpg,3,4,8,9,dog\n" +
	"c.jpg,,,,,\n" +
	"\n" +
	"a.jpg,0,0,1e1,3,cat\n"

// The images in order of first appearance, rows of one image grouped; classes in order of
// first appearance.
var csvRowsWant = []csvWant{
	{"a.jpg", [][4]float64{{1, 2, 10, 20}, {3, 4, 8, 9}, {0, 0, 10, 3}}, []int{1, 2, 1}},
	{"sub/b.png", [][4]float64{{0, 0, 5.5, 5}}, []int{2}},
	{"c.jpg", nil, nil},
}

func buildCSV(t *testing.T, dir string, opts map[string]any) (Dataset, error) {
	t.Helper()
	o := map[string]any{"file": "data.csv"}
	for k, v := range opts {
		o[k] = v
	}
	return Build(registry.Ref{Type: "csv", Options: o}, Env{BaseDir: dir})
}

func mustCSV(t *testing.T, dir string, opts map[string]any) Dataset {
	t.Helper()
	ds, err := buildCSV(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestCSV(t *testing.T) {
	names := []string{"BACKGROUND", "cat", "dog"}
	dir := csvFixture(t, csvRows)
	checkCSV(t, "no header", mustCSV(t, dir, nil), names, csvRowsWant)

	dir = csvFixture(t, "\ufeffpath,x1,y1,x2,y2,label\r\n"+strings.ReplaceAll(csvRows, "\n", "\r\n"))
	checkCSV(t, "header detected", mustCSV(t, dir, nil), names, csvRowsWant)
	checkCSV(t, "header true", mustCSV(t, dir, map[string]any{"header": "true"}), names, csvRowsWant)
	_, err := buildCSV(t, dir, map[string]any{"header": "false"})
	wantError(t, "header false", err, filepath.Join(dir, "data.csv")+": line 1: xmin \"x1\" is not a finite number")

	dir = csvFixture(t, "c.jpg,,,,,\n"+csvRows)
	checkCSV(t, "empty first row is data", mustCSV(t, dir, nil), names,
		[]csvWant{csvRowsWant[2], csvRowsWant[0], csvRowsWant[1]})
	dir = csvFixture(t, csvRows)
	checkCSV(t, "header true skips a row", mustCSV(t, dir, map[string]any{"header": "true"}), []string{"BACKGROUND", "dog", "cat"}, []csvWant{
		{"sub/b.png", [][4]float64{{0, 0, 5.5, 5}}, []int{1}},
		{"a.jpg", [][4]float64{{3, 4, 8, 9}, {0, 0, 10, 3}}, []int{1, 2}},
		{"c.jpg", nil, nil},
	})

	// Columns in another order, with ignored ones and quoted fields.
	dir = csvFixture(t, "id,label,ymax,file,xmax,xmin,ymin,score\n"+
		"1,\"big, cat\",20,a.jpg,10,1,2,0.9\n"+
		"2,dog,5,sub/b.png,5.5,0,0,0.8\n")
	cols := []string{"_", "class", "ymax", "image", "xmax", "xmin", "ymin", "_"}
	checkCSV(t, "columns", mustCSV(t, dir, map[string]any{"columns": cols}), []string{"BACKGROUND", "big, cat", "dog"}, []csvWant{
		{"a.jpg", [][4]float64{{1, 2, 10, 20}}, []int{1}},
		{"sub/b.png", [][4]float64{{0, 0, 5.5, 5}}, []int{2}},
	})

	// Labels from a labels file or the classes option fix the order.
	dir = csvFixture(t, csvRows)
	writeFiles(t, dir, map[string]string{"labels.txt": "BACKGROUND\nbird\ndog\ncat\n"})
	fixed := []csvWant{
		{"a.jpg", [][4]float64{{1, 2, 10, 20}, {3, 4, 8, 9}, {0, 0, 10, 3}}, []int{3, 2, 3}},
		{"sub/b.png", [][4]float64{{0, 0, 5.5, 5}}, []int{2}},
		{"c.jpg", nil, nil},
	}
	checkCSV(t, "labels", mustCSV(t, dir, map[string]any{"labels": "labels.txt"}), []string{"BACKGROUND", "bird", "dog", "cat"}, fixed)
	checkCSV(t, "classes", mustCSV(t, dir, map[string]any{"classes": []string{"bird", "dog", "cat"}}), []string{"BACKGROUND", "bird", "dog", "cat"}, fixed)

	// Relative coordinates are scaled by the image size (30×20); images folder and absolute
	// paths.
	imgDir := csvFixture(t, "")
	dir = t.TempDir()
	writeFiles(t, dir, map[string]string{"data.csv": "a.jpg,0.25,0.25,0.5,1,cat\n" +
		filepath.Join(imgDir, "c.jpg") + ",0,0.5,1,0.75,dog\n"})
	checkCSV(t, "relative", mustCSV(t, dir, map[string]any{"relative": true, "images": imgDir}), names, []csvWant{
		{"a.jpg", [][4]float64{{7.5, 5, 15, 20}}, []int{1}},
		{filepath.Join(imgDir, "c.jpg"), [][4]float64{{0, 10, 30, 15}}, []int{2}},
	})
}

func TestCSVBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, csv string
		opts      map[string]any
		want      []string
	}{
		{"fields", "a.jpg,1,2,3,4,cat\na.jpg,1,2,3,4\n", nil, []string{"line 2", "5 fields, but columns lists 6"}},
		{"malformed", "a.jpg,1,2,3,4,cat\na.jpg,1,2,3,4,\"cat\n", nil, []string{"line 2", "malformed CSV"}},
		{"bare quote", "a.jpg,1,2,3,4,cat\n\na.jpg,1,2,3,4,c\"at\n", nil, []string{"line 3", "malformed CSV", "bare \""}},
		{"not a number", "a.jpg,1,2,3,4,cat\na.jpg,1,two,3,4,cat\n", nil, []string{"line 2", `ymin "two" is not a finite number`}},
		{"infinite", "a.jpg,1,2,3,4,cat\na.jpg,1,2,inf,4,cat\n", nil, []string{"line 2", `xmax "inf"`}},
		{"hex", "a.jpg,1,2,3,4,cat\na.jpg,1,2,0x3,4,cat\n", nil, []string{"line 2", `xmax "0x3"`}},
		{"partly empty", "a.jpg,1,2,3,4,cat\na.jpg,1,2,,4,cat\n", nil, []string{"line 2", "empty xmax"}},
		{"no class", "a.jpg,1,2,3,4,cat\na.jpg,1,2,3,4,\n", nil, []string{"line 2", "empty class"}},
		{"degenerate", "a.jpg,1,2,3,4,cat\na.jpg,3,2,3,4,cat\n", nil, []string{"line 2", "empty box: xmin 3, ymin 2, xmax 3, ymax 4"}},
		{"degenerate y", "a.jpg,1,5,3,4,cat\n", nil, []string{"line 1", "empty box"}},
		{"relative range", "a.jpg,0.1,0.2,1.5,0.4,cat\n", map[string]any{"relative": true}, []string{"line 1", "xmax 1.5 is outside [0, 1]"}},
		{"no image", "a.jpg,1,2,3,4,cat\n ,1,2,3,4,cat\n", nil, []string{"line 2", "empty image path"}},
		{"background", "a.jpg,1,2,3,4,Background\n", nil, []string{"line 1", "reserved"}},
		{"unknown class", "a.jpg,1,2,3,4,cat\n\"a.jpg\",1,2,3,4,dgo\n", map[string]any{"classes": []string{"cat", "dog"}}, []string{"line 2", `class "dgo" is not in the label set; did you mean "dog"?`}},
		{"unknown label", "a.jpg,1,2,3,4,cat\na.jpg,1,2,3,4,Cat\n", map[string]any{"labels": "labels.txt"}, []string{"line 2", `class "Cat"`}},
		{"missing image", "a.jpg,1,2,3,4,cat\nmissing.jpg,1,2,3,4,cat\nb.jpg,1,2,3,4,cat\nmissing.jpg,1,2,3,4,cat\n", nil, []string{"line 2", "missing.jpg: no such file"}},
		{"empty", "", nil, []string{"no rows"}},
		{"header only", "image,xmin,ymin,xmax,ymax,class\n", nil, []string{"no rows"}},
		{"no boxes", "a.jpg,,,,,\n", nil, []string{"no boxes"}},
		{"not UTF-8", "a.jpg,1,2,3,4,\xfe\n", nil, []string{"line 1", "not valid UTF-8"}},
	} {
		dir := csvFixture(t, tc.csv)
		writeFiles(t, dir, map[string]string{"labels.txt": "cat,dog\n", "b.jpg": string(imageBytes(t, 4, 4, false))})
		_, err := buildCSV(t, dir, tc.opts)
		wantError(t, tc.name, err, append([]string{filepath.Join(dir, "data.csv") + ": "}, tc.want...)...)
	}

	// An image that is not an image: Annotation (relative) and Sample name the CSV file, the
	// line of the image's first row and the image.
	dir := csvFixture(t, "a.jpg,0,0,1,1,cat\nc.jpg,0,0,1,1,cat\n")
	writeFiles(t, dir, map[string]string{"c.jpg": "not an image"})
	ds := mustCSV(t, dir, map[string]any{"relative": true})
	_, _, err := ds.Annotation(1)
	wantError(t, "bad image", err, filepath.Join(dir, "data.csv")+": line 2: ", filepath.Join(dir, "c.jpg"))
	_, err = ds.Sample(1)
	wantError(t, "bad image", err, filepath.Join(dir, "data.csv")+": line 2: ", filepath.Join(dir, "c.jpg"))
}

func TestCSVConfig(t *testing.T) {
	spec, err := Registry.Lookup("csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := registry.DecodeConfig(spec, map[string]any{"file": "x.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.(*CSVConfig); c.Header != "auto" || c.Relative || !slices.Equal(c.Columns, csvColumnNames) {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"file": "x", "header": "yes"}, "header must be auto, true or false"},
		{map[string]any{"file": "x", "columns": []string{"image", "xmin", "ymin", "xmax", "ymax"}}, `"class" is missing`},
		{map[string]any{"file": "x", "columns": []string{"image", "xmin", "ymin", "xmax", "ymax", "class", "xmin"}}, `"xmin" is listed twice`},
		{map[string]any{"file": "x", "columns": []string{"image", "x0", "ymin", "xmax", "ymax", "class"}}, `columns[1]: "x0"`},
		{map[string]any{"file": "x", "labels": "l.txt", "classes": []string{"a"}}, "cannot both"},
		{map[string]any{"file": "x", "classes": []string{"a", ""}}, "classes[1] is empty"},
	} {
		_, err := registry.DecodeConfig(spec, tc.opts)
		wantError(t, fmt.Sprint(tc.opts), err, tc.want)
	}
}
