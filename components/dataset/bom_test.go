package dataset

import (
	"path/filepath"
	"slices"
	"testing"
)

// objectCount counts every object of ds, failing on an annotation error.
func objectCount(t *testing.T, ds Dataset) int {
	t.Helper()
	n := 0
	for i := 0; i < ds.Len(); i++ {
		_, objs, err := ds.Annotation(i)
		if err != nil {
			t.Fatal(err)
		}
		n += len(objs)
	}
	return n
}

// TestBOMAndCRLF reads testdata/bom, whose text files (labels, VOC split and XML, CSV, COCO
// JSON, Open Images CSVs) start with a UTF-8 byte-order mark and end lines with CRLF: a
// labels file's first class and all its objects were silently lost.
func TestBOMAndCRLF(t *testing.T) {
	want := []string{"BACKGROUND", "cat", "dog"}
	voc := copyFixture(t, filepath.Join("bom", "voc"))
	img := string(tinyJPEG(t))
	writeFiles(t, voc, map[string]string{"JPEGImages/a1.jpg": img, "JPEGImages/a2.jpg": img})
	vds, err := NewVOC(VOCConfig{Roots: []string{voc}, Split: "trainval", StrictClasses: true}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := vds.ClassNames(); !slices.Equal(got, want) {
		t.Errorf("VOC classes %q, want %q", got, want)
	}
	if n := objectCount(t, vds); n != 2 || vds.Len() != 2 {
		t.Errorf("VOC: %d images, %d objects, want 2 and 2", vds.Len(), n)
	}

	dir := copyFixture(t, "bom")
	writeFiles(t, dir, map[string]string{"a.jpg": img, "b.jpg": img})
	cds, err := NewCSV(CSVConfig{File: filepath.Join(dir, "boxes.csv"), Header: "auto", Columns: csvColumnNames, Labels: filepath.Join(dir, "labels.txt")}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cds.ClassNames(); !slices.Equal(got, want) {
		t.Errorf("CSV classes %q, want %q", got, want)
	}
	if n := objectCount(t, cds); n != 2 {
		t.Errorf("CSV: %d objects, want 2", n)
	}

	ods, err := NewCOCO(COCOConfig{Annotations: filepath.Join(dir, "coco.json"), Images: dir}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ods.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "cat"}) {
		t.Errorf("COCO classes %q", got)
	}

	oi := copyFixture(t, filepath.Join("bom", "open_images"))
	writeFiles(t, oi, map[string]string{"test/aaaa000000000001.jpg": img, "test/aaaa000000000002.jpg": img})
	ids, err := NewOpenImages(OpenImagesConfig{Root: oi, Split: "test"}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids.ClassNames(); !slices.Equal(got, []string{"BACKGROUND", "Cat", "Dog"}) {
		t.Errorf("Open Images classes %q", got)
	}
	if n := objectCount(t, ids); n != 2 {
		t.Errorf("Open Images: %d objects, want 2", n)
	}
}

// TestVOCDuplicateIDs: an image listed twice in a split file is an error naming the file
// and both lines (it was silently loaded twice).
func TestVOCDuplicateIDs(t *testing.T) {
	dir := copyFixture(t, "dupids")
	_, err := NewVOC(VOCConfig{Roots: []string{dir}, Split: "trainval"}, Env{})
	wantError(t, "duplicate id", err, filepath.Join(dir, "ImageSets", "Main", "trainval.txt"), `line 3: image "a1" is listed twice (first on line 1)`)
}
