package fsutil

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteNewAndReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := WriteBytesAtomic(path, 0o640, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one\n" {
		t.Errorf("new file holds %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	// Replacing: new content and new mode, whatever the old file's.
	if err := WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, "two\n")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two\n" {
		t.Errorf("replaced file holds %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if got := names(t, dir); !slices.Equal(got, []string{"a.txt"}) {
		t.Errorf("folder holds %v, want only a.txt", got)
	}
	// A relative path in the current folder.
	t.Chdir(dir)
	if err := WriteBytesAtomic("b.txt", 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "b.txt")); err != nil || fi.Size() != 0 {
		t.Errorf("b.txt: %v, %v", fi, err)
	}
}

// TestFailedWriteKeepsOld checks that a writer failing after partial output (more than any
// buffer, so part of it reached the temporary file) or panicking leaves the old file and
// no temporary file, and that a failed first write leaves no file at all.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.bin")
	old := []byte("old content\n")
	if err := WriteBytesAtomic(path, 0o644, old); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	partial := func(w io.Writer) error {
		if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
			return err
		}
		return boom
	}
	if err := WriteFileAtomic(path, 0o644, partial); !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want one wrapping boom and naming the path", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the writer's panic was swallowed")
			}
		}()
		WriteFileAtomic(path, 0o644, func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("y"), 1<<20))
			panic("oops")
		})
	}()
	if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
		t.Errorf("failed writes changed the file: %d bytes", len(b))
	}
	if got := names(t, dir); !slices.Equal(got, []string{"ckpt.bin"}) {
		t.Errorf("folder holds %v, want only ckpt.bin", got)
	}

	fresh := filepath.Join(dir, "new.bin")
	if err := WriteFileAtomic(fresh, 0o644, partial); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed first write left %s (%v)", fresh, err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"ckpt.bin"}) {
		t.Errorf("folder holds %v, want only ckpt.bin", got)
	}
}

func TestWriteRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing", "x"), dir + "/", filepath.Join(dir, "..")} {
		if err := WriteBytesAtomic(path, 0o644, []byte("x")); err == nil {
			t.Errorf("writing %q succeeded", path)
		}
	}
	if err := WriteFileAtomic(filepath.Join(dir, "x"), 0o644, nil); err == nil {
		t.Error("nil write function accepted")
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("refused writes left %v", got)
	}
}

// TestCrashMidWrite kills the process (os.Exit skips every deferred clean-up) while the
// new content is half written: the target must still hold the old content in full. Only
// the hidden temporary file may be left behind.
func TestCrashMidWrite(t *testing.T) {
	if path := os.Getenv("FSUTIL_CRASH_PATH"); path != "" {
		WriteFileAtomic(path, 0o644, func(w io.Writer) error {
			w.Write(bytes.Repeat([]byte("new"), 1<<20))
			os.Exit(3)
			return nil
		})
		os.Exit(0) // not reached
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.bin")
	old := bytes.Repeat([]byte("old"), 1000)
	if err := WriteBytesAtomic(path, 0o644, old); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidWrite$")
	cmd.Env = append(os.Environ(), "FSUTIL_CRASH_PATH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the child did not crash mid-write: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
		t.Errorf("after a crash mid-write the target holds %d bytes, want the old %d", len(b), len(old))
	}
	for _, n := range names(t, dir) {
		if n != "ckpt.bin" && !strings.HasPrefix(n, ".ckpt.bin.tmp-") {
			t.Errorf("unexpected file %s", n)
		}
	}
	if len(names(t, dir)) != 2 {
		t.Errorf("folder holds %v, want the target and the crashed write's temporary file", names(t, dir))
	}
}
