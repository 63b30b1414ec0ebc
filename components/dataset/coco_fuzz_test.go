package dataset

import (
	"strings"
	"testing"
)

// FuzzCOCOJSON feeds arbitrary bytes to the COCO parser and builder: they must not panic,
// errors must name the file, and what they accept must be usable (finite, non-empty boxes;
// labels of the label set; images sorted by id with distinct ids).
func FuzzCOCOJSON(f *testing.F) {
	base := cocoBase
	for _, s := range []string{
		base.String(),
		base.set("anns", 0, `{"id": 1, "image_id": 10, "category_id": 7, "bbox": [1e308, 2, 1e308, 4]}`).String(),
		base.set("anns", 0, `{"id": 1, "image_id": 10, "category_id": 7, "bbox": [1, 2, 0, 4], "iscrowd": 1}`).String(),
		`{"categories": [{"id": 1, "name": "a"}], "images": [{"id": 1, "file_name": "x"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]}`,
		`{"categories": [], "images": [], "annotations": null}`,
		`{"images": [1, "a", null, {}], "annotations": [[]], "categories": {}}`,
		"", "{", "[]", `{"a": 1,}`, `{"annotations": [{"bbox": [1, 2, 3, 4e400]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := parseCOCO(data, "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error does not start with the file name: %v", err)
			}
			return
		}
		for _, o := range []cocoOptions{
			{skipCrowd: true, skipEmpty: true},
			{minArea: 1},
			{classes: []string{"dog", "person"}, skipEmpty: true},
		} {
			names, items, err := buildCOCO(cf, o)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
					t.Fatalf("error does not start with the file name: %v", err)
				}
				continue
			}
			ids := map[string]bool{}
			for k, it := range items {
				if ids[it.id] || (k > 0 && items[k-1].imageID >= it.imageID) {
					t.Fatalf("items not sorted by id or ids repeated: %+v", items)
				}
				ids[it.id] = true
				if o.skipEmpty && len(it.objs) == 0 {
					t.Fatalf("empty image %+v kept", it)
				}
				for _, obj := range it.objs {
					checkFuzzBox(t, obj.Box, false)
					if obj.Label < 1 || obj.Label >= len(names) || (o.skipCrowd && obj.Difficult) {
						t.Fatalf("object %+v of %q", obj, names)
					}
				}
			}
		}
	})
}
