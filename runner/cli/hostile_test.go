//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFmtSymlink: fmt on a folder holding a symlink formats the file it points to and
// leaves the link a link (it was replaced by a regular file).
func TestFmtSymlink(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	target := filepath.Join(other, "real.hcl")
	if err := os.WriteFile(target, []byte("training {\nepochs=3\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.hcl")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, "", "fmt", dir); code != 0 {
		t.Fatalf("fmt: %d %s", code, errOut)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v %v", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(target); string(got) != "training {\n  epochs = 3\n}\n" {
		t.Errorf("target not formatted:\n%s", got)
	}
}

// TestFmtHostileFiles: /dev/zero, a FIFO and 100,000 nested brackets as fmt arguments are
// refused at once with a message naming the file, and nothing is rewritten.
func TestFmtHostileFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(dir, "deep.hcl")
	src := "x = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"
	if err := os.WriteFile(deep, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, want string }{
		{"/dev/zero", "/dev/zero: a device, not a regular file"},
		{fifo, fifo + ": a named pipe"},
		{deep, deep + ": not rewritten"},
	} {
		for _, check := range []bool{true, false} {
			args := []string{"fmt", c.arg}
			if check {
				args = []string{"fmt", "--check", c.arg}
			}
			_, errOut, code := run(t, "", args...)
			if code != exitError || !strings.Contains(errOut, c.want) {
				t.Errorf("%v: %d %s, want %q", args, code, errOut, c.want)
			}
		}
	}
	if b, _ := os.ReadFile(deep); string(b) != src {
		t.Error("the deep file was modified")
	}
}

// TestGenShapesNonEmptyFolder: gen-shapes into a folder that holds files is refused
// (it rewrote the split file and left old images behind) unless --force.
func TestGenShapesNonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "mine.txt")
	if err := os.WriteFile(keep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "data", "gen-shapes", "--out", dir, "--count", "2")
	if code != exitError || !strings.Contains(errOut, dir+" is not empty") || !strings.Contains(errOut, "--force") {
		t.Errorf("non-empty folder: %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "ImageSets")); err == nil {
		t.Error("wrote into the non-empty folder")
	}
	if _, errOut, code = run(t, "", "data", "gen-shapes", "--out", dir, "--count", "2", "--force"); code != 0 {
		t.Errorf("--force: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(keep); string(b) != "keep" {
		t.Error("--force lost an existing file")
	}
	empty := filepath.Join(t.TempDir(), "new")
	if _, errOut, code = run(t, "", "data", "gen-shapes", "--out", empty, "--count", "2"); code != 0 {
		t.Errorf("new folder: %d %s", code, errOut)
	}
}
