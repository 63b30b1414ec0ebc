//go:build unix

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/ssdrunner/ssdrunner/internal/textfile"
)

// TestHostileFixtures loads every file of testdata/hostile (from the disk, as the command
// does) and checks that it is refused with diagnostics containing each "# want: " line
// of its header and none of its "# not: " lines; "# set: " and "# var: " lines are --set
// and -var arguments. None may panic or hang.
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
			var want, not, set, vars []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, w)
				} else if w, ok := strings.CutPrefix(line, "# not: "); ok {
					not = append(not, w)
				} else if s, ok := strings.CutPrefix(line, "# set: "); ok {
					set = append(set, s)
				} else if v, ok := strings.CutPrefix(line, "# var: "); ok {
					vars = append(vars, v)
				}
			}
			if len(want) == 0 {
				t.Fatal("fixture has no # want: line")
			}
			res, diags := Load(path, Options{Set: set, Vars: vars})
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
			for _, w := range not {
				if strings.Contains(b.String(), w) {
					t.Errorf("output has %q:\n%s", w, b.String())
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

// TestDeepNesting: 100,000 nested brackets overflowed the goroutine stack in HCL's
// parser (a fatal error); now the file, a variables file or a --set value is refused at
// the bracket that goes past MaxNesting.
func TestDeepNesting(t *testing.T) {
	dir := t.TempDir()
	deep := "x = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"
	file := filepath.Join(dir, "deep.hcl")
	if err := os.WriteFile(file, []byte(minimal+deep), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "deep.vars.hcl")
	if err := os.WriteFile(vars, []byte(deep), 0o644); err != nil {
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
		{file, Options{}, "deep.hcl:12:261: error: Nesting too deep"},
		{good, Options{VarFiles: []string{vars}}, "deep.vars.hcl:1:261: error: Nesting too deep"},
		{good, Options{Set: []string{"data.mean=" + strings.Repeat("[", 100000)}}, "Invalid --set"},
	}
	for _, c := range cases {
		res, diags := Load(c.path, c.opts)
		var b strings.Builder
		WriteDiagnostics(&b, diags, res.Files)
		if !diags.HasErrors() || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: got\n%.2000s\nwant %q", c.path, b.String(), c.want)
		}
	}
	if d := CheckNesting([]byte(strings.Repeat("{", MaxNesting)+strings.Repeat("}", MaxNesting)), "ok"); d != nil {
		t.Errorf("%d levels refused: %v", MaxNesting, d)
	}
}

// TestDiamondInheritance: a base reached along several paths (2^16 of them printed 65,536
// copies of its error) reports each error once.
func TestDiamondInheritance(t *testing.T) {
	res, diags := Load(filepath.Join("testdata", "diamond", "top.hcl"), Options{})
	var b strings.Builder
	WriteDiagnostics(&b, diags, res.Files)
	if n := strings.Count(b.String(), `Invalid value for "epochs"`); n != 1 {
		t.Errorf("the base's error printed %d times, want once:\n%s", n, b.String())
	}
}

// TestDiagnosticsSortedAndCapped: diagnostics come out by file, line and column, and at
// most MaxPrinted of them with a count of the rest.
func TestDiagnosticsSortedAndCapped(t *testing.T) {
	var diags hcl.Diagnostics
	for i := 120; i > 0; i-- {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("E%d", i),
			Subject: &hcl.Range{Filename: "a.hcl", Start: hcl.Pos{Line: i, Column: 1}}})
	}
	diags = append(diags, diags[0]) // a duplicate
	var b strings.Builder
	WriteDiagnostics(&b, diags, nil)
	out := b.String()
	if !strings.HasPrefix(out, "a.hcl:1:1: error: E1\n") || !strings.Contains(out, "a.hcl:50:1: error: E50\n") || strings.Contains(out, "E51\n") {
		t.Errorf("not sorted or not capped:\n%s", out)
	}
	if !strings.Contains(out, "… and 70 more (the first 50 are shown).") {
		t.Errorf("no count of the rest:\n%s", out)
	}
}
