package dataset

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzVOCAnnotation feeds arbitrary bytes to the annotation parser: it must not panic, and
// what it accepts must be usable (finite, non-empty boxes; labels of the label set; errors
// naming the file).
func FuzzVOCAnnotation(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "vocref", "*", "Annotations", "*.xml"))
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		annotationXML(goodObject),
		annotationXML(`<object><name>cat</name><bndbox><xmin>1e39</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>`),
		annotationXML(`<object><name>cat</name><difficult> </difficult><bndbox><xmin>-1</xmin><ymin>-2</ymin><xmax>3.5</xmax><ymax>4e1</ymax></bndbox></object>`),
		`<?xml version="1.0" encoding="latin1"?><annotation><object><name>cat</name></object></annotation>`,
		`<annotation><object><name>dog<b>x</b></name><bndbox><xmin>1</xmin></bndbox></object>`,
		"", "<", "<a>&bogus;</a>",
	} {
		f.Add([]byte(s))
	}
	idx := classIndex(vocClassNames)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, strict := range []bool{false, true} {
			objs, err := parseAnnotation(data, "fuzz.xml", idx, strict)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.xml: ") {
					t.Fatalf("error does not start with the file name: %v", err)
				}
				continue
			}
			for k, o := range objs {
				for _, v := range o.Box {
					if math.IsNaN(v) || math.IsInf(v, 0) || v != float64(float32(v)) {
						t.Fatalf("object %d: box %v", k, o.Box)
					}
				}
				if !(o.Box[2] > o.Box[0] && o.Box[3] > o.Box[1]) || o.Label < 1 || o.Label >= len(vocClassNames) {
					t.Fatalf("object %d: %+v", k, o)
				}
			}
		}
	})
}
