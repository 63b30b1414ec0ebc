package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// openImagesGolden is testdata/open_images_golden.json, written by
// testdata/open_images_gen_golden.py from the reference's OpenImagesDataset.
type openImagesGolden struct {
	Sizes map[string][2]int `json:"sizes"`
	Cases []struct {
		Split       string   `json:"split"`
		ClassNames  []string `json:"class_names"`
		IDs         []string `json:"ids"`
		Annotations []struct {
			ID        string       `json:"id"`
			Boxes     [][4]float64 `json:"boxes"`
			Labels    []int        `json:"labels"`
			Difficult []int        `json:"difficult"`
		} `json:"annotations"`
		Items []struct {
			Boxes  [][4]float64 `json:"boxes"`
			Labels []int        `json:"labels"`
		} `json:"items"`
	} `json:"cases"`
	Balance struct {
		Split       string `json:"split"`
		MinImageNum int    `json:"min_image_num"`
		NumImages   int    `json:"num_images"`
	} `json:"balance"`
}

// openImagesFixture copies testdata/open_images to a new folder and writes the images of
// every split listed in the golden file (PNG content for every other one: the reader
// accepts both whatever the extension).
func openImagesFixture(t *testing.T) (string, openImagesGolden) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "open_images_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g openImagesGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("testdata", "open_images", "*.csv"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, root, map[string]string{filepath.Base(f): string(b)})
	}
	for _, c := range g.Cases {
		for k, id := range c.IDs {
			sz := g.Sizes[id]
			writeImage(t, filepath.Join(root, c.Split, id+".jpg"), sz[0], sz[1], k%2 == 1)
		}
	}
	return root, g
}

// TestOpenImagesMatchesReference compares class names, ids, annotations and training objects
// with what the reference returns for the same files, exactly (float32 products included).
func TestOpenImagesMatchesReference(t *testing.T) {
	root, g := openImagesFixture(t)
	if len(g.Cases) != 3 {
		t.Fatalf("golden file has %d cases, want 3", len(g.Cases))
	}
	for _, c := range g.Cases {
		ds, err := Build(registry.Ref{Type: "open_images", Options: map[string]any{"root": root, "split": c.Split}}, Env{})
		if err != nil {
			t.Fatalf("%s: %v", c.Split, err)
		}
		if got := ds.ClassNames(); !slices.Equal(got, c.ClassNames) {
			t.Errorf("%s: class names %q, reference %q", c.Split, got, c.ClassNames)
		}
		if ds.Len() != len(c.IDs) {
			t.Fatalf("%s: %d images, reference %d", c.Split, ds.Len(), len(c.IDs))
		}
		for i, want := range c.Annotations {
			id, objs, err := ds.Annotation(i)
			if err != nil {
				t.Fatal(err)
			}
			boxes, labels := objectsOf(objs)
			for _, o := range objs {
				if o.Difficult {
					t.Errorf("%s[%d]: difficult object", c.Split, i)
				}
			}
			if id != want.ID || id != c.IDs[i] || !equalBoxes(boxes, want.Boxes) || !slices.Equal(labels, want.Labels) {
				t.Errorf("%s[%d] annotation %s: %v %v; reference %s %v %v", c.Split, i, id, boxes, labels, want.ID, want.Boxes, want.Labels)
			}
			s, err := ds.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			boxes, labels = objectsOf(s.Objects)
			if s.ID != want.ID || !equalBoxes(boxes, c.Items[i].Boxes) || !slices.Equal(labels, c.Items[i].Labels) {
				t.Errorf("%s[%d] sample %s: %v %v; reference %v %v", c.Split, i, s.ID, boxes, labels, c.Items[i].Boxes, c.Items[i].Labels)
			}
			if b, sz := s.Image.Bounds(), g.Sizes[id]; b.Dx() != sz[0] || b.Dy() != sz[1] {
				t.Errorf("%s[%d]: image size %v, want %v", c.Split, i, b, sz)
			}
		}
	}
	ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: g.Balance.Split, BalanceData: true}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.MinClassImages() != g.Balance.MinImageNum {
		t.Errorf("balance_data: min images per class %d, reference %d", ds.MinClassImages(), g.Balance.MinImageNum)
	}
}

// TestOpenImagesAnnotationCachesSize checks that Annotation reads the image header once.
func TestOpenImagesAnnotationCachesSize(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"sub-train-annotations-bbox.csv": "ImageID,XMin,XMax,YMin,YMax,ClassName\nimg,0.25,0.5,0.5,1,cat\n"})
	writeImage(t, filepath.Join(root, "train", "img.jpg"), 40, 20, false)
	ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, objs, err := ds.Annotation(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := [4]float64{10, 10, 20, 20}; objs[0].Box != want {
		t.Errorf("box %v, want %v", objs[0].Box, want)
	}
	writeImage(t, filepath.Join(root, "train", "img.jpg"), 80, 80, true) // not read again
	if _, objs, _ = ds.Annotation(0); objs[0].Box != [4]float64{10, 10, 20, 20} {
		t.Errorf("size not cached: %v", objs[0].Box)
	}
	s, err := ds.Sample(0) // Sample uses the decoded image
	if err != nil {
		t.Fatal(err)
	}
	if want := [4]float64{20, 40, 40, 80}; s.Objects[0].Box != want {
		t.Errorf("sample box %v, want %v", s.Objects[0].Box, want)
	}
}

func TestOpenImagesClasses(t *testing.T) {
	root, _ := openImagesFixture(t)
	ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train", Classes: []string{"Zebra", "Fruit", "Apple"}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "Zebra", "Fruit", "Apple"}) {
		t.Errorf("class names %q", got)
	}
	// Images with Zebra or Apple boxes: B7e6 (Zebra), a1b2 (Apple ×2), b7e6, c4d2 (Zebra), d0e1, e9f8.
	var ids []string
	count := map[int]int{}
	for i := 0; i < ds.Len(); i++ {
		id, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		for _, o := range objs {
			count[o.Label]++
		}
	}
	wantIDs := []string{"B7e6d5c4a3f2e1d0", "a1b2c3d4e5f60718", "b7e6d5c4a3f2e1d0", "c4d2f1a0b9e87a65", "d0e1f2a3b4c5d6e7", "e9f8a7b6c5d4e3f2"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("ids %v, want %v", ids, wantIDs)
	}
	if count[1] != 2 || count[2] != 0 || count[3] != 5 || len(count) != 2 {
		t.Errorf("objects per label %v, want Zebra 2, Apple 5", count)
	}

	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "train", Classes: []string{"Zebar"}}, Env{})
	wantError(t, "typo", err, `"Zebar"`, "sub-train-annotations-bbox.csv", "class-descriptions-boxable.csv", `did you mean "Zebra"`)
	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "test", Classes: []string{"Car"}}, Env{})
	wantError(t, "no box of the classes", err, "sub-test-annotations-bbox.csv", "no box")
	if err := os.Remove(filepath.Join(root, "class-descriptions-boxable.csv")); err != nil {
		t.Fatal(err)
	}
	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "train", Classes: []string{"Apple", "Fruit"}}, Env{})
	wantError(t, "class only in the removed descriptions", err, `"Fruit"`, "sub-train-annotations-bbox.csv")
}

// balanceFixture writes a train split where class a is in 12 images, b in 6 and c in 3
// (image 0 has both a and c).
func balanceFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	var b strings.Builder
	b.WriteString("ImageID,XMin,XMax,YMin,YMax,ClassName\n")
	row := func(id, class string) { fmt.Fprintf(&b, "%s,0.1,0.5,0.2,0.6,%s\n", id, class) }
	for i := 0; i < 12; i++ {
		row(fmt.Sprintf("a%02d", i), "a")
		row(fmt.Sprintf("a%02d", i), "a") // two boxes count as one image
	}
	for i := 0; i < 6; i++ {
		row(fmt.Sprintf("b%02d", i), "b")
	}
	row("a00", "c")
	row("c01", "c")
	row("c02", "c")
	writeFiles(t, root, map[string]string{"sub-train-annotations-bbox.csv": b.String()})
	for _, id := range []string{"c01", "c02"} {
		writeImage(t, filepath.Join(root, "train", id+".jpg"), 8, 8, false)
	}
	for i := 0; i < 12; i++ {
		writeImage(t, filepath.Join(root, "train", fmt.Sprintf("a%02d.jpg", i)), 8, 8, false)
		if i < 6 {
			writeImage(t, filepath.Join(root, "train", fmt.Sprintf("b%02d.jpg", i)), 8, 8, false)
		}
	}
	return root
}

func openImagesIDs(t *testing.T, ds *OpenImages) []string {
	t.Helper()
	ids := make([]string, ds.Len())
	for i := range ids {
		id, _, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// TestOpenImagesBalance checks balance_data's effect (every class keeps exactly m = 3 of its
// images, m being the rarest class's count; the rarest keeps all), its determinism (a seed
// gives the same images) and that the draws are uniform (each a-image is kept with
// probability 3/12 from the a draw, plus a00 when c's draw takes it, which it always does).
func TestOpenImagesBalance(t *testing.T) {
	root := balanceFixture(t)
	build := func(seed int) *OpenImages {
		ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train", BalanceData: true, Seed: seed}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	full, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if full.Len() != 20 || full.MinClassImages() != -1 {
		t.Fatalf("unbalanced: %d images, min %d", full.Len(), full.MinClassImages())
	}
	const seeds = 400
	kept := map[string]int{}
	for seed := 0; seed < seeds; seed++ {
		ds := build(seed)
		ids := openImagesIDs(t, ds)
		if ds.MinClassImages() != 3 {
			t.Fatalf("seed %d: min images %d, want 3", seed, ds.MinClassImages())
		}
		if !slices.IsSorted(ids) {
			t.Errorf("seed %d: ids not in dataset order: %v", seed, ids)
		}
		perClass := map[byte]int{}
		for _, id := range ids {
			kept[id]++
			perClass[id[0]]++
		}
		// c's draw keeps a00, c01, c02; b's keeps 3 b-images; a's keeps 3 a-images, one of
		// which may be a00.
		if perClass['b'] != 3 || perClass['c'] != 2 || perClass['a'] < 3 || perClass['a'] > 4 {
			t.Fatalf("seed %d: kept %v", seed, ids)
		}
		if seed < 3 {
			if again := openImagesIDs(t, build(seed)); !slices.Equal(ids, again) {
				t.Errorf("seed %d: not deterministic: %v then %v", seed, ids, again)
			}
		}
	}
	if kept["a00"] != seeds || kept["c01"] != seeds {
		t.Errorf("a00 kept %d, c01 kept %d times of %d", kept["a00"], kept["c01"], seeds)
	}
	// a01..a11 are kept with probability 3/12 when the a draw misses a00 (9/12 · 3/11 …):
	// P = 1 - P(not drawn) where the draw picks 3 of 12 uniformly: 3/12 = 0.25.
	for i := 1; i < 12; i++ {
		id := fmt.Sprintf("a%02d", i)
		if p := float64(kept[id]) / seeds; p < 0.25-0.08 || p > 0.25+0.08 {
			t.Errorf("%s kept with frequency %.3f, want 0.25 ± 0.08", id, p)
		}
	}
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("b%02d", i)
		if p := float64(kept[id]) / seeds; p < 0.5-0.09 || p > 0.5+0.09 {
			t.Errorf("%s kept with frequency %.3f, want 0.5 ± 0.09", id, p)
		}
	}
	if slices.Equal(openImagesIDs(t, build(1)), openImagesIDs(t, build(2))) && slices.Equal(openImagesIDs(t, build(1)), openImagesIDs(t, build(3))) {
		t.Error("seeds 1, 2 and 3 keep the same images")
	}

	// A listed class without images makes balancing impossible.
	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "train", BalanceData: true, Classes: []string{"a", "z"}}, Env{})
	wantError(t, "class without images", err, "z")
}

func TestOpenImagesBadInput(t *testing.T) {
	const header = "ImageID,XMin,XMax,YMin,YMax,ClassName\n"
	const good = "img,0.1,0.5,0.2,0.6,cat\n"
	for _, tc := range []struct {
		name, csv string
		want      []string
	}{
		{"missing column", "ImageID,XMin,XMax,YMin,ClassName\nimg,0.1,0.5,0.2,cat\n", []string{"line 1", `no column "YMax"`}},
		{"field count", header + good + "img,0.1,0.5,0.2,cat\n", []string{"line 3", "5 fields", "header has 6"}},
		{"malformed", header + good + "img,0.1,0.5,0.2,0.6,\"cat\n", []string{"line 3", "malformed CSV"}},
		{"bare quote", header + "im\"g,0.1,0.5,0.2,0.6,cat\n", []string{"line 2", "malformed CSV"}},
		{"not a number", header + good + "img,0.1,zero,0.2,0.6,cat\n", []string{"line 3", `XMax "zero"`}},
		{"nan", header + good + good + "img,nan,0.5,0.2,0.6,cat\n", []string{"line 4", `XMin "nan"`}},
		{"empty coordinate", header + "img,0.1,0.5,,0.6,cat\n", []string{"line 2", `YMin ""`}},
		{"out of range", header + "img,0.1,1.5,0.2,0.6,cat\n", []string{"line 2", "XMax 1.5", "outside [0, 1]"}},
		{"degenerate", header + good + "img,0.5,0.5,0.2,0.6,cat\n", []string{"line 3", "empty box"}},
		{"degenerate y", header + "img,0.1,0.5,0.7,0.6,cat\n", []string{"line 2", "empty box"}},
		{"empty id", header + ",0.1,0.5,0.2,0.6,cat\n", []string{"line 2", "empty ImageID"}},
		{"path id", header + "../img,0.1,0.5,0.2,0.6,cat\n", []string{"line 2", "cannot name a file"}},
		{"empty class", header + good + "img,0.1,0.5,0.2,0.6,\n", []string{"line 3", "empty ClassName"}},
		{"background", header + "img,0.1,0.5,0.2,0.6,BACKGROUND\n", []string{"line 2", "reserved"}},
		{"multi-line field", header + "img,0.1,0.5,0.2,0.6,\"c\nat\"\nimg,0.1,0.5,0.2,x,cat\n", []string{"line 4", `YMax "x"`}},
		{"empty", "", []string{"empty file"}},
		{"header only", header, []string{"no boxes"}},
		{"not UTF-8", header + "img,0.1,0.5,0.2,0.6,\xff\n", []string{"line 2", "UTF-8"}},
	} {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{"sub-train-annotations-bbox.csv": tc.csv})
		writeImage(t, filepath.Join(root, "train", "img.jpg"), 8, 8, false)
		_, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train"}, Env{})
		wantError(t, tc.name, err, append([]string{filepath.Join(root, "sub-train-annotations-bbox.csv")}, tc.want...)...)
	}

	// A missing image names the annotation file, the line of the image's first row and the
	// image file; skip_missing_images drops it instead.
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"sub-test-annotations-bbox.csv": header + "b,0.1,0.5,0.2,0.6,cat\n" + good + "b,0.1,0.5,0.2,0.6,dog\n"})
	writeImage(t, filepath.Join(root, "test", "img.jpg"), 8, 8, false)
	_, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "test"}, Env{})
	wantError(t, "missing image", err, "sub-test-annotations-bbox.csv", "line 2", filepath.Join(root, "test", "b.jpg"))
	ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "test", SkipMissingImages: true}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if id, _, _ := ds.Annotation(0); ds.Len() != 1 || id != "img" {
		t.Errorf("skip_missing_images kept %d images (%s)", ds.Len(), id)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "cat", "dog"}) {
		t.Errorf("class names %q: the labels come from the whole file", got)
	}
	// An image that disappears or is not an image: Annotation and Sample name it and the line.
	writeFiles(t, root, map[string]string{"test/img.jpg": "not an image"})
	if ds, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "test", SkipMissingImages: true}, Env{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = ds.Annotation(0)
	wantError(t, "bad image", err, "sub-test-annotations-bbox.csv", "line 3", filepath.Join(root, "test", "img.jpg"))
	_, err = ds.Sample(0)
	wantError(t, "bad image", err, "sub-test-annotations-bbox.csv", "line 3", filepath.Join(root, "test", "img.jpg"))
	if err := os.RemoveAll(filepath.Join(root, "test")); err != nil {
		t.Fatal(err)
	}
	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "test", SkipMissingImages: true}, Env{})
	wantError(t, "no image at all", err, "none of the 2 images")
	_, err = NewOpenImages(OpenImagesConfig{Root: root, Split: "validation"}, Env{})
	wantError(t, "missing file", err, "sub-validation-annotations-bbox.csv")
}

func TestOpenImagesConfig(t *testing.T) {
	spec, err := Registry.Lookup("open_images")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := registry.DecodeConfig(spec, map[string]any{"root": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.(*OpenImagesConfig); c.Split != "train" || c.BalanceData || c.SkipMissingImages {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"root": "x", "split": "val"}, `did you mean "validation"`},
		{map[string]any{"root": "x", "classes": []string{"a", "a"}}, "twice"},
		{map[string]any{"root": "x", "classes": []string{"background"}}, "BACKGROUND"},
		{map[string]any{"root": " "}, "root"},
	} {
		_, err := registry.DecodeConfig(spec, tc.opts)
		wantError(t, fmt.Sprint(tc.opts), err, tc.want)
	}
}

// TestOpenImagesConcurrent reads annotations and samples from several goroutines (run with
// -race to check the size cache).
func TestOpenImagesConcurrent(t *testing.T) {
	root, g := openImagesFixture(t)
	ds, err := NewOpenImages(OpenImagesConfig{Root: root, Split: "train"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := g.Cases[0].Annotations
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for k := 0; k < 3*ds.Len(); k++ {
				i := (k + w) % ds.Len()
				var objs []Object
				var err error
				if k%3 == 0 {
					var s Sample
					s, err = ds.Sample(i)
					objs = s.Objects
				} else {
					_, objs, err = ds.Annotation(i)
				}
				if boxes, _ := objectsOf(objs); err == nil && !equalBoxes(boxes, want[i].Boxes) {
					err = fmt.Errorf("image %d: boxes %v, want %v", i, boxes, want[i].Boxes)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
