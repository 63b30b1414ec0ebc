package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVOCSkipBad(t *testing.T) {
	dir := vocFolder(t, []string{"a", "b", "c", "d"}, map[string]string{
		"a": annotationXML(goodObject),
		"b": annotationXML(strings.Replace(goodObject, "<xmax>30</xmax>", "<xmax>1</xmax>", 1)), // degenerate
		"c": "<annotation><object>",                                                             // malformed
		"d": annotationXML(goodObject),
	}, nil)
	if err := os.Remove(filepath.Join(dir, "JPEGImages", "d.jpg")); err != nil {
		t.Fatal(err)
	}
	cfg := VOCConfig{Roots: []string{dir}, Split: "trainval"}
	if _, err := NewVOC(cfg, Env{}); err == nil {
		t.Fatal("without SkipBad a bad sample must fail the build")
	}
	ds, err := NewVOC(cfg, Env{SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 1 {
		t.Fatalf("kept %d samples, want only a", ds.Len())
	}
	if id, _, _ := ds.Annotation(0); id != "a" {
		t.Errorf("kept %q", id)
	}
	probs := ds.Problems()
	if len(probs) != 3 {
		t.Fatalf("problems = %v", probs)
	}
	for i, want := range []struct{ id, file string }{{"b", "b.xml"}, {"c", "c.xml"}, {"d", "d.jpg"}} {
		if probs[i].ID != want.id || !strings.Contains(probs[i].Err.Error(), want.file) {
			t.Errorf("problem %d = %s: %v, want sample %s naming %s", i, probs[i].ID, probs[i].Err, want.id, want.file)
		}
	}

	all := vocFolder(t, []string{"x"}, map[string]string{"x": "<annotation"}, nil)
	if _, err := NewVOC(VOCConfig{Roots: []string{all}, Split: "trainval"}, Env{SkipBad: true}); err == nil || !strings.Contains(err.Error(), "every sample is bad") {
		t.Errorf("all bad: %v", err)
	}
}
