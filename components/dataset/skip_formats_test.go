package dataset

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wantProblem is a Problem expected from a dataset built with Env.SkipBad: the sample id and
// parts its error must contain.
type wantProblem struct {
	id    string
	parts []string
}

func checkProblems(t *testing.T, name string, got []Problem, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d problems, want %d: %v", name, len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].ID != w.id {
			t.Errorf("%s: problem %d is of sample %q, want %q (%v)", name, i, got[i].ID, w.id, got[i].Err)
		}
		for _, p := range w.parts {
			if !strings.Contains(got[i].Err.Error(), p) {
				t.Errorf("%s: problem %d (%s): %q does not contain %q", name, i, w.id, got[i].Err, p)
			}
		}
	}
}

// checkKept compares the annotations of ds with want (ids, boxes and labels exactly).
func checkKept(t *testing.T, name string, ds Dataset, want []csvWant) {
	t.Helper()
	if ds.Len() != len(want) {
		t.Fatalf("%s: %d samples, want %d", name, ds.Len(), len(want))
	}
	for i, w := range want {
		id, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		boxes, labels := objectsOf(objs)
		if id != w.id || !slices.Equal(boxes, w.boxes) || !slices.Equal(labels, w.labels) {
			t.Errorf("%s[%d]: %s %v %v, want %s %v %v", name, i, id, boxes, labels, w.id, w.boxes, w.labels)
		}
	}
}

var errLine = regexp.MustCompile(`: line (\d+)`)

// errorsOneByOne builds a CSV-based dataset without SkipBad again and again, blanking the line
// that each error names (blank lines are skipped, so the other lines keep their numbers),
// until it builds; it returns the errors, which are what SkipBad must record.
func errorsOneByOne(t *testing.T, file, content string, build func() error) []string {
	t.Helper()
	lines := strings.Split(content, "\n")
	var errs []string
	for range lines {
		writeFiles(t, filepath.Dir(file), map[string]string{filepath.Base(file): strings.Join(lines, "\n")})
		err := build()
		if err == nil {
			return errs
		}
		errs = append(errs, err.Error())
		m := errLine.FindStringSubmatch(err.Error())
		if m == nil {
			t.Fatalf("error names no line: %v", err)
		}
		n, _ := strconv.Atoi(m[1])
		lines[n-1] = ""
	}
	t.Fatal("never built")
	return nil
}

func problemTexts(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Err.Error())
	}
	return out
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

const csvSkipRows = "image,xmin,ymin,xmax,ymax,class\n" +
	"a.jpg,1,2,5,6,cat\n" + // 2
	"b.jpg,1,2,5,6,cat\n" + // 3
	"b.jpg,5,2,1,6,dog\n" + // 4 degenerate: b is bad
	"c.jpg,x,2,5,6,cat\n" + // 5 not a number
	"a.jpg,2,3,7,8,dog\n" + // 6
	"d.jpg,1,2,5,6,bird\n" + // 7 unknown class
	"e.jpg,1,2,5,6,cat\n" + // 8 missing image
	",1,2,3,4,cat\n" + // 9 no image
	"f.jpg,inf,2,5,6,cat\n" + // 10 not finite
	"g.jpg,1,2,5,6,dog\n" + // 11
	"c.jpg,1,2,5,6,cat\n" + // 12 a good row does not save c
	"h.jpg,1,2,3\n" // 13 too few fields

func TestCSVSkipBad(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a", "b", "c", "d", "f", "g", "h"} {
		writeImage(t, filepath.Join(dir, f+".jpg"), 20, 10, false)
	}
	file := filepath.Join(dir, "data.csv")
	writeFiles(t, dir, map[string]string{"data.csv": csvSkipRows})
	cfg := CSVConfig{File: file, Columns: csvColumnNames, Header: "auto", Classes: []string{"cat", "dog"}}

	_, err := NewCSV(cfg, Env{})
	wantError(t, "without SkipBad", err, "data.csv: line 4: empty box")
	ds, err := NewCSV(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	checkKept(t, "csv", ds, []csvWant{
		{"a.jpg", [][4]float64{{1, 2, 5, 6}, {2, 3, 7, 8}}, []int{1, 2}},
		{"g.jpg", [][4]float64{{1, 2, 5, 6}}, []int{2}},
	})
	var _ ProblemReporter = ds
	probs := ds.Problems()
	checkProblems(t, "csv", probs, []wantProblem{ // order of first rows
		{"b.jpg", []string{"data.csv: line 4: empty box"}},
		{"c.jpg", []string{"data.csv: line 5: xmin \"x\" is not a finite number"}},
		{"d.jpg", []string{"data.csv: line 7: class \"bird\" is not in the label set"}},
		{"e.jpg", []string{"data.csv: line 8: image: ", "e.jpg"}},
		{"", []string{"data.csv: line 9: empty image path"}},
		{"f.jpg", []string{"data.csv: line 10: xmin \"inf\" is not a finite number"}},
		{"h.jpg", []string{"data.csv: line 13: 4 fields, but columns lists 6"}},
	})
	// Each problem is the error that the build without SkipBad reports once the earlier ones
	// are fixed.
	seq := errorsOneByOne(t, file, csvSkipRows, func() error { _, err := NewCSV(cfg, Env{}); return err })
	if !sameSet(seq, problemTexts(probs)) {
		t.Errorf("problems %q\nwant the errors %q", problemTexts(probs), seq)
	}

	writeFiles(t, dir, map[string]string{"data.csv": "b.jpg,5,2,1,6,dog\n,1,2,3,4,cat\n"})
	_, err = NewCSV(cfg, Env{SkipBad: true})
	wantError(t, "all bad", err, "every sample is bad (2 problems; the first: ", "data.csv: line 1: empty box")
	// File-level errors stay fatal.
	writeFiles(t, dir, map[string]string{"data.csv": "a.jpg,1,2,5,6,cat\n\"b.jpg,1"})
	_, err = NewCSV(cfg, Env{SkipBad: true})
	wantError(t, "malformed", err, "data.csv: line 2: malformed CSV")
}

const oiSkipRows = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,ClassName\n" +
	"img1,x,/m/1,1,0.1,0.5,0.2,0.6,Cat\n" + // 2
	"img2,x,/m/1,1,0.5,0.1,0.2,0.6,Cat\n" + // 3 degenerate
	"img3,x,/m/2,1,0.1,abc,0.2,0.6,Dog\n" + // 4 not a number
	"img1,x,/m/2,1,0.2,0.9,0.1,0.8,Dog\n" + // 5
	"img4,x,/m/2,1,0.1,1.5,0.2,0.6,Dog\n" + // 6 outside [0, 1]
	"img5,x,/m/1,1,0.1,0.5,0.2,0.6,Cat\n" + // 7 missing image
	"img6,x,/m/2,1,0.1,0.5,0.2,0.6,Dog\n" + // 8
	"img2,x,/m/1,1,0.1,0.5,0.2,0.6,Cat\n" + // 9 a good row does not save img2
	"img7,x,/m/1,1,nan,0.5,0.2,0.6,Cat\n" + // 10 not finite
	",x,/m/1,1,0.1,0.5,0.2,0.6,Cat\n" + // 11 no ImageID
	"img8,x,/m/1,1,0.1,0.5,0.2,0.6,\n" // 12 no ClassName

func TestOpenImagesSkipBad(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"img1", "img2", "img3", "img4", "img6", "img7", "img8"} {
		writeImage(t, filepath.Join(root, "train", id+".jpg"), 10, 20, false)
	}
	file := filepath.Join(root, "sub-train-annotations-bbox.csv")
	writeFiles(t, root, map[string]string{filepath.Base(file): oiSkipRows})
	cfg := OpenImagesConfig{Root: root, Split: "train"}

	_, err := NewOpenImages(cfg, Env{})
	wantError(t, "without SkipBad", err, "sub-train-annotations-bbox.csv: line 3: empty box")
	ds, err := NewOpenImages(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "Cat", "Dog"}) {
		t.Errorf("class names %q", got)
	}
	px := func(rel float32, size int) float64 { return float64(rel * float32(size)) }
	checkKept(t, "open_images", ds, []csvWant{
		{"img1", [][4]float64{
			{px(0.1, 10), px(0.2, 20), px(0.5, 10), px(0.6, 20)},
			{px(0.2, 10), px(0.1, 20), px(0.9, 10), px(0.8, 20)}}, []int{1, 2}},
		{"img6", [][4]float64{{px(0.1, 10), px(0.2, 20), px(0.5, 10), px(0.6, 20)}}, []int{2}},
	})
	var _ ProblemReporter = ds
	probs := ds.Problems()
	checkProblems(t, "open_images", probs, []wantProblem{ // rows without ImageID, then by id
		{"", []string{"bbox.csv: line 11: empty ImageID"}},
		{"img2", []string{"bbox.csv: line 3: empty box"}},
		{"img3", []string{"bbox.csv: line 4: XMax \"abc\" is not a finite number"}},
		{"img4", []string{"bbox.csv: line 6: XMax 1.5 is outside [0, 1]"}},
		{"img5", []string{"bbox.csv: line 7: ImageID img5: image: ", "img5.jpg"}},
		{"img7", []string{"bbox.csv: line 10: XMin \"nan\" is not a finite number"}},
		{"img8", []string{"bbox.csv: line 12: empty ClassName"}},
	})
	seq := errorsOneByOne(t, file, oiSkipRows, func() error { _, err := NewOpenImages(cfg, Env{}); return err })
	if !sameSet(seq, problemTexts(probs)) {
		t.Errorf("problems %q\nwant the errors %q", problemTexts(probs), seq)
	}

	// skip_missing_images still drops missing images silently.
	writeFiles(t, root, map[string]string{filepath.Base(file): oiSkipRows})
	cfg.SkipMissingImages = true
	ds, err = NewOpenImages(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ds.Problems()); ds.Len() != 2 || n != 6 {
		t.Errorf("skip_missing_images: %d samples, %d problems; want 2 and 6", ds.Len(), n)
	}

	writeFiles(t, root, map[string]string{filepath.Base(file): "ImageID,XMin,XMax,YMin,YMax,ClassName\nimg2,0.5,0.1,0.2,0.6,Cat\n"})
	_, err = NewOpenImages(cfg, Env{SkipBad: true})
	wantError(t, "all bad", err, "every sample is bad (1 problems; the first: ", "line 2: empty box")
	// File-level errors stay fatal.
	writeFiles(t, root, map[string]string{filepath.Base(file): "ImageID,XMin,XMax,YMin,ClassName\nimg1,0.1,0.5,0.2,Cat\n"})
	_, err = NewOpenImages(cfg, Env{SkipBad: true})
	wantError(t, "no column", err, "line 1: the header has no column \"YMax\"")
}

func TestCOCOSkipBad(t *testing.T) {
	doc := cocoDoc{
		cats: []string{`{"id": 7, "name": "dog"}`, `{"id": 1, "name": "person"}`, `{"id": 3, "name": "car"}`},
		imgs: []string{
			`{"id": 30, "file_name": "c.jpg"}`,
			`{"id": 10, "file_name": "a.jpg"}`,
			`{"id": 20, "file_name": "b.jpg"}`,
			`{"id": 40, "file_name": "d.jpg"}`, // missing file
			`{"id": 50, "file_name": "e.jpg"}`,
			`{"id": 60}`, // no file_name
			`{"id": 70, "file_name": "g.jpg"}`,
		},
		anns: []string{
			`{"id": 1, "image_id": 30, "category_id": 7, "bbox": [1, 2, 3, 4]}`,
			`{"id": 2, "image_id": 10, "category_id": 1, "bbox": [1, 2, -3, 4]}`, // negative width
			`{"id": 3, "image_id": 10, "category_id": 7, "bbox": [0, 0, 5, 5]}`,
			`{"id": 4, "image_id": 20, "category_id": 99, "bbox": [1, 1, 2, 2]}`, // unknown category
			`{"id": 5, "image_id": 40, "category_id": 3, "bbox": [1, 1, 2, 2]}`,
			`{"id": 6, "image_id": 50, "category_id": 3, "bbox": [1, 1, 0, 2]}`, // empty box
			`{"id": 7, "image_id": 99, "category_id": 3, "bbox": [1, 1, 2, 2]}`, // no such image
			`{"id": 8, "image_id": 70, "category_id": 3, "bbox": [2, 2, 3, 3]}`,
			`{"id": 9, "image_id": 30, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 1}`,
			`{"id": 10, "image_id": 20, "category_id": 3, "bbox": [1, 2, 3]}`, // b is already bad
		},
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"instances.json": doc.String()})
	for _, f := range []string{"a", "b", "c", "e", "g"} {
		writeImage(t, filepath.Join(dir, "images", f+".jpg"), 20, 10, false)
	}
	cfg := COCOConfig{Annotations: filepath.Join(dir, "instances.json"), Images: filepath.Join(dir, "images"), SkipCrowd: true, SkipEmpty: true}

	_, first := NewCOCO(cfg, Env{})
	wantError(t, "without SkipBad", first, fmt.Sprintf("instances.json: images[5] (line %d) (id 60): no \"file_name\"", doc.imgLine(5)))
	ds, err := NewCOCO(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "person", "car", "dog"}) {
		t.Errorf("class names %q", got)
	}
	checkKept(t, "coco", ds, []csvWant{
		{"c", [][4]float64{{1, 2, 4, 6}}, []int{3}},
		{"g", [][4]float64{{2, 2, 5, 5}}, []int{2}},
	})
	var _ ProblemReporter = ds
	ann := func(k int) string {
		return fmt.Sprintf("instances.json: annotations[%d] (line %d, id %d)", k, doc.annLine(k), k+1)
	}
	probs := ds.Problems()
	checkProblems(t, "coco", probs, []wantProblem{ // errors of no image, then by image id
		{"", []string{ann(6) + ": image_id 99 is not the id of an image"}},
		{"a", []string{ann(1) + ": bbox [1, 2, -3, 4] has a negative width"}},
		{"b", []string{ann(3) + ": category_id 99 is not the id of a category"}},
		{"d", []string{"instances.json: image id 40 (d.jpg): image: ", "d.jpg"}},
		{"e", []string{ann(5) + ": empty box [1, 1, 0, 2]"}},
		{"", []string{fmt.Sprintf("instances.json: images[5] (line %d) (id 60): no \"file_name\"", doc.imgLine(5))}},
	})
	if probs[5].Err.Error() != first.Error() {
		t.Errorf("problem %q, want the error without SkipBad %q", probs[5].Err, first)
	}

	// Images sharing an id are both dropped: their annotations cannot be told apart.
	dup := doc.set("imgs", 1, `{"id": 30, "file_name": "a.jpg"}`)
	writeFiles(t, dir, map[string]string{"instances.json": dup.String()})
	ds, err = NewCOCO(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	checkKept(t, "coco dup", ds, []csvWant{{"g", [][4]float64{{2, 2, 5, 5}}, []int{2}}})
	dupText := fmt.Sprintf("images[1] (line %d): id 30 is also the id of images[0]", dup.imgLine(1))
	dupProbs := ds.Problems() // image 10 is gone: annotations[1] and [2] are of no image now
	if len(dupProbs) != 9 {
		t.Fatalf("coco dup: %d problems, want 9: %v", len(dupProbs), dupProbs)
	}
	checkProblems(t, "coco dup", dupProbs[:6], []wantProblem{
		{"", []string{"annotations[1]"}}, {"", []string{"annotations[2]"}}, {"", []string{"annotations[6]"}},
		{"b", []string{"annotations[3]"}}, {"c", []string{dupText}}, {"a", []string{dupText}},
	})

	one := cocoDoc{cats: doc.cats, imgs: doc.imgs[:1], anns: []string{`{"id": 1, "image_id": 30, "category_id": 7, "bbox": [1, 2, 0, 4]}`}}
	writeFiles(t, dir, map[string]string{"instances.json": one.String()})
	_, err = NewCOCO(cfg, Env{SkipBad: true})
	wantError(t, "all bad", err, "every sample is bad (1 problems; the first: ", "annotations[0]", "empty box")
	// File-level errors stay fatal.
	writeFiles(t, dir, map[string]string{"instances.json": `{"categories": [], "images": [`})
	_, err = NewCOCO(cfg, Env{SkipBad: true})
	wantError(t, "malformed", err, "instances.json: line 1, column 31: malformed JSON")
}
