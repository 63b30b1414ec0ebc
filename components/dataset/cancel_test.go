package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestForEachIndexCancel: a cancelled context stops the handing out of indexes; the calls
// already started finish, and the context's error comes back.
func TestForEachIndexCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	err := forEachIndex(ctx, 1_000_000, func(i int) {
		if calls.Add(1) == 100 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// At most the workers' calls in flight run after the cancel (8 goroutines at most).
	if n := calls.Load(); n < 100 || n > 100+8 {
		t.Fatalf("%d calls after a cancel at the 100th", n)
	}
	if err := forEachIndex(context.Background(), 10, func(int) {}); err != nil {
		t.Fatalf("uncancelled: %v", err)
	}
}

// TestVOCCancelled: reading a VOC set with a cancelled Env.Ctx stops with the context's
// error rather than reading every annotation.
func TestVOCCancelled(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"Annotations", "JPEGImages", "ImageSets/Main"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	xml := `<annotation><object><name>cat</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>`
	ids := ""
	for _, id := range []string{"a", "b", "c"} {
		ids += id + "\n"
		if err := os.WriteFile(filepath.Join(root, "Annotations", id+".xml"), []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "JPEGImages", id+".jpg"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "ImageSets", "Main", "trainval.txt"), []byte(ids), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewVOC(VOCConfig{Roots: []string{root}, Split: "trainval"}, Env{}); err != nil {
		t.Fatalf("uncancelled: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewVOC(VOCConfig{Roots: []string{root}, Split: "trainval"}, Env{Ctx: ctx}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v, want context.Canceled", err)
	}
}
