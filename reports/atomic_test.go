package reports

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ap.png")
	if err := WriteFileAtomic(path, func(w io.Writer) error { return PerClassAP(w, goodEval()) }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decodePNG(t, b)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}

	// A failing writer leaves the old file untouched and no temporary file behind.
	err = WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("boom")
	})
	if err == nil || !errors.Is(err, err) || !contains(err.Error(), "boom") {
		t.Errorf("error %v, want one wrapping boom", err)
	}
	// An invalid eval is reported the same way.
	if err := WriteFileAtomic(path, func(w io.Writer) error { return PerClassAP(w, Eval{}) }); err == nil {
		t.Error("invalid eval written")
	}
	// A panicking writer too.
	func() {
		defer func() { recover() }()
		WriteFileAtomic(path, func(w io.Writer) error { panic("oops") })
	}()
	after, _ := os.ReadFile(path)
	if string(after) != string(b) {
		t.Error("failed writes changed the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %v, want only ap.png", names)
	}

	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x.png"), func(io.Writer) error { return nil }); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
	if err := WriteFileAtomic(dir+"/", func(io.Writer) error { return nil }); err == nil {
		t.Error("writing to a folder path succeeded")
	}
	if err := WriteFileAtomic(path, nil); err == nil {
		t.Error("nil write function accepted")
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
