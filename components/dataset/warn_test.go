package dataset

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestEscapes(t *testing.T) {
	for p, want := range map[string]bool{
		"a.jpg": false, "sub/a.jpg": false, "sub/../a.jpg": false, "": false, "/abs/a.jpg": false,
		"../a.jpg": true, "sub/../../a.jpg": true, "..": true,
	} {
		if got := escapes(p); got != want {
			t.Errorf("escapes(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestOutsideWarning: a CSV whose image paths climb out of its folder is accepted (the
// images exist) with one warning naming the file, the count and the first place; one whose
// paths stay inside has none.
func TestOutsideWarning(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "shared", "a.jpg"), 20, 20, false)
	writeImage(t, filepath.Join(dir, "ann", "b.jpg"), 20, 20, false)
	writeFiles(t, dir, map[string]string{
		"ann/out.csv": "image,xmin,ymin,xmax,ymax,class\nb.jpg,1,1,9,9,cat\n../shared/a.jpg,1,1,9,9,cat\n../shared/a.jpg,2,2,9,9,dog\n",
		"ann/in.csv":  "image,xmin,ymin,xmax,ymax,class\nb.jpg,1,1,9,9,cat\n",
	})
	build := func(name string) *CSV {
		t.Helper()
		d, err := NewCSV(CSVConfig{File: filepath.Join(dir, "ann", name), Header: "auto", Columns: csvColumnNames}, Env{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return d
	}
	w := build("out.csv").Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "out.csv") || !strings.Contains(w[0], "1 image path(s)") || !strings.Contains(w[0], `line 3: "../shared/a.jpg"`) {
		t.Errorf("warnings = %q", w)
	}
	if w := build("in.csv").Warnings(); len(w) != 0 {
		t.Errorf("paths inside the folder: warnings = %q", w)
	}
}
