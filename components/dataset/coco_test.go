package dataset

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// cocoDoc is a COCO instances file written one element per line, so that tests know the line
// of every element.
type cocoDoc struct {
	cats, imgs, anns []string
	extra            string // added after the opening brace
}

func (d cocoDoc) String() string {
	var b strings.Builder
	b.WriteString("{\n")
	if d.extra != "" {
		b.WriteString(d.extra + "\n")
	}
	arr := func(key string, elems []string, last bool) {
		fmt.Fprintf(&b, "%q: [\n%s\n]", key, strings.Join(elems, ",\n"))
		if !last {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	arr("categories", d.cats, false)
	arr("images", d.imgs, false)
	arr("annotations", d.anns, true)
	b.WriteString("}\n")
	return b.String()
}

// annLine is the line of annotations[k] (without extra).
func (d cocoDoc) annLine(k int) int { return len(d.cats) + len(d.imgs) + 7 + k }

func (d cocoDoc) imgLine(k int) int { return len(d.cats) + 5 + k }

func (d cocoDoc) catLine(k int) int { return 3 + k }

// set returns a copy of d with element k of the array which ("cats", "imgs" or "anns")
// replaced by elem (appended when k is the array's length).
func (d cocoDoc) set(which string, k int, elem string) cocoDoc {
	c := cocoDoc{cats: slices.Clone(d.cats), imgs: slices.Clone(d.imgs), anns: slices.Clone(d.anns), extra: d.extra}
	dst := map[string]*[]string{"cats": &c.cats, "imgs": &c.imgs, "anns": &c.anns}[which]
	if k == len(*dst) {
		*dst = append(*dst, elem)
	} else {
		(*dst)[k] = elem
	}
	return c
}

var cocoBase = cocoDoc{
	cats: []string{
		`{"id": 7, "name": "dog", "supercategory": "animal"}`,
		`{"id": 1, "name": "person"}`,
		`{"id": 3, "name": "car"}`,
	},
	imgs: []string{
		`{"id": 30, "file_name": "c.jpg", "width": 40, "height": 30}`,
		`{"id": 10, "file_name": "sub/a.png", "width": 20, "height": 10}`,
		`{"id": 20, "file_name": "b.jpg"}`,
		`{"id": 40, "file_name": "empty.jpg"}`,
		`{"id": 50, "file_name": "crowd.jpg"}`,
	},
	anns: []string{
		`{"id": 1, "image_id": 10, "category_id": 7, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}`,
		`{"id": 2, "image_id": 30, "category_id": 1, "bbox": [0.5, 0.5, 10, 5.25]}`,
		`{"id": 3, "image_id": 10, "category_id": 1, "bbox": [5, 5, 2, 2], "iscrowd": 1, "segmentation": {"counts": [1, 2], "size": [10, 20]}}`,
		`{"id": 4, "image_id": 20, "category_id": 3, "bbox": [0, 0, 0.5, 0.5]}`,
		`{"id": 5, "image_id": 10, "category_id": 3, "bbox": [2, 2, 6, 6], "segmentation": [[2, 2, 8, 2, 8, 8]]}`,
		`{"id": 6, "image_id": 20, "category_id": 7, "bbox": [3, 3, 1, 1], "iscrowd": false}`,
		`{"id": 7, "image_id": 50, "category_id": 7, "bbox": [1, 1, 5, 5], "iscrowd": true}`,
	},
	extra: `"info": {"year": 2017, "description": "test"}, "licenses": [],`,
}

// cocoFixture writes the instances file and the images of cocoBase (or doc) and returns the
// annotations file and the image folder.
func cocoFixture(t *testing.T, doc cocoDoc) (string, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"annotations/instances.json": doc.String()})
	for _, f := range []string{"c.jpg", "sub/a.png", "b.jpg", "empty.jpg", "crowd.jpg"} {
		writeImage(t, filepath.Join(dir, "images", filepath.FromSlash(f)), 20, 10, strings.HasSuffix(f, ".png"))
	}
	return filepath.Join(dir, "annotations", "instances.json"), filepath.Join(dir, "images")
}

type cocoWant struct {
	id     string
	boxes  [][4]float64
	labels []int
	crowd  []bool
}

func checkCOCO(t *testing.T, name string, ds Dataset, names []string, want []cocoWant) {
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
		var crowd []bool
		for _, o := range objs {
			crowd = append(crowd, o.Difficult)
		}
		if id != w.id || !equalBoxes(boxes, w.boxes) || !slices.Equal(labels, w.labels) || !slices.Equal(crowd, w.crowd) {
			t.Errorf("%s[%d]: %s %v %v %v, want %s %v %v %v", name, i, id, boxes, labels, crowd, w.id, w.boxes, w.labels, w.crowd)
		}
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		var trainBoxes [][4]float64
		for k, o := range objs {
			if !crowd[k] {
				trainBoxes = append(trainBoxes, o.Box)
			}
		}
		if got, _ := objectsOf(s.Objects); s.ID != w.id || !equalBoxes(got, trainBoxes) {
			t.Errorf("%s[%d] sample %s: boxes %v, want the non-crowd ones %v", name, i, s.ID, got, trainBoxes)
		}
		if b := s.Image.Bounds(); b.Dx() != 20 || b.Dy() != 10 {
			t.Errorf("%s[%d]: image size %v", name, i, b)
		}
	}
}

func TestCOCO(t *testing.T) {
	_, imgs := cocoFixture(t, cocoBase)
	build := func(opts map[string]any) Dataset {
		t.Helper()
		o := map[string]any{"annotations": "annotations/instances.json", "images": "images"}
		for k, v := range opts {
			o[k] = v
		}
		ds, err := Build(registry.Ref{Type: "coco", Options: o}, Env{BaseDir: filepath.Dir(imgs)})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	names := []string{"BACKGROUND", "person", "car", "dog"} // ascending category id: 1, 3, 7
	a := cocoWant{"sub/a", [][4]float64{{1, 2, 4, 6}, {2, 2, 8, 8}}, []int{3, 2}, []bool{false, false}}
	b := cocoWant{"b", [][4]float64{{0, 0, 0.5, 0.5}, {3, 3, 4, 4}}, []int{2, 3}, []bool{false, false}}
	c := cocoWant{"c", [][4]float64{{0.5, 0.5, 10.5, 5.75}}, []int{1}, []bool{false}}
	checkCOCO(t, "defaults", build(nil), names, []cocoWant{a, b, c})

	aCrowd := cocoWant{"sub/a", [][4]float64{{1, 2, 4, 6}, {5, 5, 7, 7}, {2, 2, 8, 8}}, []int{3, 1, 2}, []bool{false, true, false}}
	checkCOCO(t, "skip_crowd false", build(map[string]any{"skip_crowd": false}), names, []cocoWant{aCrowd, b, c})

	empty := cocoWant{id: "empty"}
	crowdOnly := cocoWant{"crowd", [][4]float64{{1, 1, 6, 6}}, []int{3}, []bool{true}}
	checkCOCO(t, "skip_empty false", build(map[string]any{"skip_empty": false, "skip_crowd": false}), names,
		[]cocoWant{aCrowd, b, c, empty, crowdOnly})
	checkCOCO(t, "skip_empty false, skip_crowd", build(map[string]any{"skip_empty": false}), names,
		[]cocoWant{a, b, c, empty, {id: "crowd"}})

	bSmall := cocoWant{"b", [][4]float64{{3, 3, 4, 4}}, []int{3}, []bool{false}}
	checkCOCO(t, "min_area", build(map[string]any{"min_area": 1.0}), names, []cocoWant{a, bSmall, c})

	// classes: kept categories, labelled in the listed order.
	checkCOCO(t, "classes", build(map[string]any{"classes": []string{"dog", "person"}}), []string{"BACKGROUND", "dog", "person"}, []cocoWant{
		{"sub/a", [][4]float64{{1, 2, 4, 6}}, []int{1}, []bool{false}},
		{"b", [][4]float64{{3, 3, 4, 4}}, []int{1}, []bool{false}},
		{"c", [][4]float64{{0.5, 0.5, 10.5, 5.75}}, []int{2}, []bool{false}},
	})
}

func TestCOCOBadInput(t *testing.T) {
	base := cocoBase
	base.extra = ""
	type tc struct {
		name string
		doc  string
		opts map[string]any
		want []string
	}
	ann := func(k int, s string) cocoDoc { return base.set("anns", k, s) }
	annAt := func(k int) string { return fmt.Sprintf("annotations[%d] (line %d", k, base.annLine(k)) }
	cases := []tc{
		{"truncated", base.String()[:200], nil, []string{"malformed JSON"}},
		{"syntax", ann(2, `{"id": 3, "image_id": 10,, "category_id": 1}`).String(), nil, []string{fmt.Sprintf("line %d, column 27", base.annLine(2)), "malformed JSON", "invalid character ','"}},
		{"top level array", `[{"images": []}]`, nil, []string{"not a JSON object"}},
		{"empty", "", nil, []string{"malformed JSON"}},
		{"no annotations", `{"categories": [{"id": 1, "name": "a"}], "images": []}`, nil, []string{`no "annotations" array`}},
		{"annotations null", `{"categories": [], "images": [], "annotations": null}`, nil, []string{`line 1: "annotations" is not an array`}},
		{"twice", `{"categories": [], "categories": [], "images": [], "annotations": []}`, nil, []string{`"categories" appears twice`}},
		{"trailing data", base.String() + "{}", nil, []string{"data after the top-level object"}},
		{"bbox type", ann(1, `{"id": 2, "image_id": 30, "category_id": 1, "bbox": [1, "2", 3, 4]}`).String(), nil, []string{annAt(1), `field "bbox": expected a number, got string`}},
		{"id type", ann(3, `{"id": 4.5, "image_id": 20, "category_id": 3, "bbox": [0, 0, 1, 1]}`).String(), nil, []string{annAt(3), `field "id": expected an integer, got number 4.5`}},
		{"element type", ann(3, `[1, 2]`).String(), nil, []string{annAt(3), "expected an object, got array"}},
		{"bbox length", ann(4, `{"id": 5, "image_id": 10, "category_id": 3, "bbox": [2, 2, 6]}`).String(), nil, []string{annAt(4) + ", id 5)", "bbox must be 4 numbers", "[2, 2, 6]"}},
		{"bbox null", ann(4, `{"id": 5, "image_id": 10, "category_id": 3, "bbox": [2, null, 6, 1]}`).String(), nil, []string{annAt(4) + ", id 5)", "[2, null, 6, 1]"}},
		{"no bbox", ann(4, `{"id": 5, "image_id": 10, "category_id": 3}`).String(), nil, []string{annAt(4) + ", id 5)", "bbox must be 4 numbers [x, y, width, height], got null"}},
		{"negative", ann(0, `{"id": 1, "image_id": 10, "category_id": 7, "bbox": [1, 2, -3, 4]}`).String(), nil, []string{annAt(0) + ", id 1)", "negative width"}},
		{"zero width", ann(5, `{"id": 6, "image_id": 20, "category_id": 7, "bbox": [3, 3, 0, 1]}`).String(), nil, []string{annAt(5) + ", id 6)", "empty box [3, 3, 0, 1]", "min_area"}},
		{"huge box", ann(5, `{"id": 6, "image_id": 20, "category_id": 7, "bbox": [1e308, 3, 1e308, 1]}`).String(), nil, []string{annAt(5) + ", id 6)", "empty box"}},
		{"unknown image", ann(5, `{"id": 6, "image_id": 21, "category_id": 7, "bbox": [3, 3, 1, 1]}`).String(), nil, []string{annAt(5) + ", id 6)", "image_id 21 is not"}},
		{"unknown category", ann(5, `{"id": 6, "image_id": 20, "category_id": 2, "bbox": [3, 3, 1, 1]}`).String(), nil, []string{annAt(5) + ", id 6)", "category_id 2 is not"}},
		{"no image_id", ann(5, `{"id": 6, "category_id": 7, "bbox": [3, 3, 1, 1]}`).String(), nil, []string{annAt(5) + ", id 6)", `no "image_id"`}},
		{"no category_id", ann(5, `{"image_id": 20, "bbox": [3, 3, 1, 1]}`).String(), nil, []string{annAt(5) + ")", `no "category_id"`}},
		{"iscrowd", ann(5, `{"id": 6, "image_id": 20, "category_id": 7, "bbox": [3, 3, 1, 1], "iscrowd": 2}`).String(), nil, []string{annAt(5), "iscrowd must be 0 or 1, got 2"}},
		{"category without name", base.set("cats", 1, `{"id": 1}`).String(), nil, []string{fmt.Sprintf("categories[1] (line %d) (id 1)", base.catLine(1)), `no "name"`}},
		{"category without id", base.set("cats", 1, `{"name": "x"}`).String(), nil, []string{fmt.Sprintf("categories[1] (line %d)", base.catLine(1)), `no "id"`}},
		{"category id twice", base.set("cats", 2, `{"id": 7, "name": "cow"}`).String(), nil, []string{"categories[2]", "id 7 is also the id of categories[0]"}},
		{"category name twice", base.set("cats", 2, `{"id": 4, "name": "dog"}`).String(), nil, []string{"categories[2]", `name "dog" is also the name of categories[0]`}},
		{"background", base.set("cats", 2, `{"id": 3, "name": "background"}`).String(), nil, []string{"categories[2]", "reserved"}},
		{"no categories", `{"categories": [], "images": [], "annotations": []}`, nil, []string{"no categories"}},
		{"image without id", base.set("imgs", 2, `{"file_name": "b.jpg"}`).String(), nil, []string{fmt.Sprintf("images[2] (line %d)", base.imgLine(2)), `no "id"`}},
		{"image without file", base.set("imgs", 2, `{"id": 20, "file_name": ""}`).String(), nil, []string{"images[2]", "(id 20)", `no "file_name"`}},
		{"image id twice", base.set("imgs", 2, `{"id": 30, "file_name": "b.jpg"}`).String(), nil, []string{"images[2]", "id 30 is also the id of images[0]"}},
		{"same sample id", base.set("imgs", 2, `{"id": 20, "file_name": "c.png"}`).String(), nil, []string{"images[2]", `same sample id "c" as images[0]`}},
		{"unknown class", base.String(), map[string]any{"classes": []string{"persn"}}, []string{`no category is named "persn" (classes option)`, `did you mean "person"`}},
		{"nothing kept", base.String(), map[string]any{"min_area": 1000.0}, []string{"no image has an object"}},
		{"missing image", base.set("imgs", 2, `{"id": 20, "file_name": "gone.jpg"}`).String(), nil, []string{"image id 20 (gone.jpg)", "gone.jpg: no such file"}},
	}
	for _, c := range cases {
		_, imgs := cocoFixture(t, cocoBase)
		file := filepath.Join(t.TempDir(), "bad.json")
		writeFiles(t, filepath.Dir(file), map[string]string{"bad.json": c.doc})
		cfg := COCOConfig{Annotations: file, Images: imgs, SkipCrowd: true, SkipEmpty: true}
		if v, ok := c.opts["classes"]; ok {
			cfg.Classes = v.([]string)
		}
		if v, ok := c.opts["min_area"]; ok {
			cfg.MinArea = v.(float64)
		}
		_, err := NewCOCO(cfg, Env{})
		wantError(t, c.name, err, append([]string{file + ":"}, c.want...)...)
	}

	// A zero-size box is dropped rather than rejected when min_area drops it.
	_, imgs := cocoFixture(t, cocoBase)
	file := filepath.Join(t.TempDir(), "zero.json")
	writeFiles(t, filepath.Dir(file), map[string]string{"zero.json": ann(5, `{"id": 6, "image_id": 20, "category_id": 7, "bbox": [3, 3, 0, 1]}`).String()})
	if _, err := NewCOCO(COCOConfig{Annotations: file, Images: imgs, MinArea: 0.1, SkipCrowd: true}, Env{}); err != nil {
		t.Errorf("zero-size box with min_area: %v", err)
	}
}

func TestCOCOConfig(t *testing.T) {
	spec, err := Registry.Lookup("coco")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := registry.DecodeConfig(spec, map[string]any{"annotations": "a.json", "images": "img"})
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.(*COCOConfig); !c.SkipCrowd || !c.SkipEmpty || c.MinArea != 0 || c.Classes != nil {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"annotations": "a.json"}, `missing required option "images"`},
		{map[string]any{"annotations": "a.json", "images": "i", "min_area": -1.0}, "min_area"},
		{map[string]any{"annotations": "a.json", "images": "i", "classes": []string{"x", "x"}}, "twice"},
	} {
		_, err := registry.DecodeConfig(spec, tc.opts)
		wantError(t, fmt.Sprint(tc.opts), err, tc.want)
	}
}
