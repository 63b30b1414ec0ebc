//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
)

// TestHostileFixtures loads every file of testdata/hostile (from the disk, as the command
// does) and checks that it is refused with diagnostics containing each "# want: " line
// of its header; "# set: " lines are --set overrides. None may panic or hang.
func TestHostileFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want, set []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				} else if s, ok := strings.CutPrefix(line, "# set: "); ok {
					set = append(set, s)
				}
			}
			if len(want) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			res, diags := Load(path, Options{Set: set})
			if !diags.HasErrors() {
				t.Fatalf("accepted")
			}
			var b strings.Builder
			WriteDiagnostics(&b, diags, res.Files)
			for _, w := range want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestNonRegularAndHugeFiles: /dev/zero, a FIFO or an oversized file as the experiment or
// a -var-file are refused at once (they grew memory without end or blocked forever).
func TestNonRegularAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.hcl")
	if err := os.WriteFile(huge, []byte("# "+strings.Repeat("x", textfile.Config)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.hcl")
	if err := os.WriteFile(good, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		opts Options
		want string
	}{
		{"/dev/zero", Options{}, "/dev/zero: a device, not a regular file"},
		{fifo, Options{}, fifo + ": a named pipe (FIFO)"},
		{huge, Options{}, huge + ": 8388611 bytes is larger than the 8 MiB"},
		{good, Options{VarFiles: []string{"/dev/zero"}}, "/dev/zero: a device"},
		{good, Options{VarFiles: []string{fifo}}, "named pipe"},
	}
	for _, c := range cases {
		res, diags := Load(c.path, c.opts)
		var b strings.Builder
		WriteDiagnostics(&b, diags, res.Files)
		if !diags.HasErrors() || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %v: got\n%s\nwant %q", c.path, c.opts.VarFiles, b.String(), c.want)
		}
	}
}
