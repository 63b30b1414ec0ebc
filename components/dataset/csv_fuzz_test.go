package dataset

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzCSVReader feeds arbitrary bytes to the "csv" and "open_images" file parsers: they must
// not panic, errors must name the file, and what they accept must be usable (finite,
// non-empty boxes; labels of the label set; relative coordinates in [0, 1]; Open Images ids
// sorted and class names sorted).
func FuzzCSVReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "open_images", "*.csv"))
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		csvRows,
		"image,xmin,ymin,xmax,ymax,class\na.jpg,0.1,0.2,0.3,0.4,cat\n",
		"\ufeffImageID,XMin,XMax,YMin,YMax,ClassName\r\nx,0,1,0,1,\"a, b\"\r\n",
		"a.jpg,,,,,\nb.jpg,1,2,3,4,\"c\nd\"\n",
		"ImageID,XMin,XMax,YMin,YMax,ClassName,ImageID\nx,0,1e-40,0,1,a,y\n",
		"a,\"b", "\"", ",,,,,\n", "",
	} {
		f.Add([]byte(s))
	}
	lay, _ := newCSVLayout(csvColumnNames)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, o := range []csvParseOptions{
			{layout: lay, header: "auto"},
			{layout: lay, header: "false", relative: true},
			{layout: lay, header: "true", classes: []string{"cat", "dog"}},
		} {
			names, items, err := parseDetectionCSV(data, "fuzz.csv", o)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.csv: ") {
					t.Fatalf("error does not start with the file name: %v", err)
				}
				continue
			}
			if len(items) == 0 || names[0] != "BACKGROUND" {
				t.Fatalf("accepted %d items, names %q", len(items), names)
			}
			for _, it := range items {
				if it.image == "" || it.line < 1 {
					t.Fatalf("item %+v", it)
				}
				for _, obj := range it.objs {
					checkFuzzBox(t, obj.Box, o.relative)
					if obj.Label < 1 || obj.Label >= len(names) {
						t.Fatalf("label %d of %q", obj.Label, names)
					}
				}
			}
		}
		for _, classes := range [][]string{nil, {"Apple", "Car"}} {
			p, err := parseOpenImages(data, "fuzz.csv", classes)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.csv: ") {
					t.Fatalf("error does not start with the file name: %v", err)
				}
				continue
			}
			if classes == nil && (len(p.images) == 0 || !slices.IsSorted(p.names[1:])) {
				t.Fatalf("accepted %d images, names %q", len(p.images), p.names)
			}
			if !slices.IsSortedFunc(p.images, func(a, b oiImage) int { return strings.Compare(a.id, b.id) }) {
				t.Fatal("images not sorted by id")
			}
			for _, im := range p.images {
				if len(im.boxes) != len(im.labels) || len(im.boxes) == 0 {
					t.Fatalf("image %+v", im)
				}
				for k, b := range im.boxes {
					checkFuzzBox(t, [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}, true)
					if l := im.labels[k]; l < 1 || l >= len(p.names) {
						t.Fatalf("label %d of %q", l, p.names)
					}
				}
			}
		}
	})
}

func checkFuzzBox(t *testing.T, b [4]float64, relative bool) {
	t.Helper()
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) || (relative && (v < 0 || v > 1)) {
			t.Fatalf("box %v", b)
		}
	}
	if !(b[2] > b[0] && b[3] > b[1]) {
		t.Fatalf("empty box %v", b)
	}
}
