package reftest

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	d := Compare([]float64{1, -2.5, 4.002}, []float64{1, -2.5, 4})
	if math.Abs(d.Abs-0.002) > 1e-12 || d.Scale != 4 || math.Abs(d.Rel-0.0005) > 1e-12 || d.Length != 3 {
		t.Errorf("Compare = %+v, want abs 0.002, scale 4, rel 0.0005", d)
	}
	if !d.Within(0.0005+1e-12) || d.Within(0.0004) {
		t.Errorf("Within around 0.0005 wrong for %v", d)
	}
	if d := Compare([]float64{0, 1e-9}, []float64{0, 0}); d.Rel != 1e-9 {
		t.Errorf("all-zero want: Rel = %g, want the absolute 1e-9", d.Rel)
	}
	if d := Compare([]float64{math.NaN()}, []float64{1}); !math.IsNaN(d.Rel) || d.Within(1) {
		t.Errorf("NaN result: %+v should be NaN and not within any bound", d)
	}
}

// fakeTB records what the harness does to a test instead of ending it.
type fakeTB struct {
	testing.TB
	name, skipped, failed string
}

type ended struct{}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Name() string        { return f.name }
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Skipf(format string, a ...any) {
	f.skipped = fmt.Sprintf(format, a...)
	panic(ended{})
}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.failed = fmt.Sprintf(format, a...)
	panic(ended{})
}

func run(f *fakeTB, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(ended); !ok {
				panic(r)
			}
		}
	}()
	fn()
}

// TestSkipRequireAndLog: without a reference the comparison is skipped, or failed under
// SSD_REQUIRE_REFERENCE=1, and each outcome is a line of SSD_REFTEST_LOG.
func TestSkipRequireAndLog(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the harness skips everything in -short mode")
	}
	log := filepath.Join(t.TempDir(), "reftest.log")
	t.Setenv(EnvLog, log)
	t.Setenv(EnvReference, filepath.Join(t.TempDir(), "absent"))
	t.Setenv(EnvPython, "/bin/true") // "imports" anything
	imports.Clear()
	t.Cleanup(imports.Clear)

	t.Setenv(EnvRequire, "")
	a := &fakeTB{name: "TestA"}
	run(a, func() { Reference(a) })
	if a.skipped == "" || a.failed != "" || !strings.Contains(a.skipped, "not a checkout") {
		t.Errorf("without the reference: skipped %q, failed %q", a.skipped, a.failed)
	}
	t.Setenv(EnvRequire, "1")
	b := &fakeTB{name: "TestB"}
	run(b, func() { Reference(b) })
	if b.failed == "" || b.skipped != "" {
		t.Errorf("under %s=1: skipped %q, failed %q", EnvRequire, b.skipped, b.failed)
	}

	ref := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ref, "vision", "ssd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ref, "vision", "ssd", "ssd.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvReference, ref)
	c := &fakeTB{name: "TestC"}
	if got := Reference(c); got != ref || c.skipped != "" || c.failed != "" {
		t.Errorf("with a checkout: %q, skipped %q, failed %q", got, c.skipped, c.failed)
	}

	b2, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b2)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "skipped TestA: ") || !strings.HasPrefix(lines[1], "failed TestB: ") || lines[2] != "ran TestC" {
		t.Errorf("log:\n%s", b2)
	}
}

func TestPythonDefault(t *testing.T) {
	t.Setenv(EnvPython, "")
	if Python() != DefaultPython {
		t.Errorf("Python() = %q, want %q", Python(), DefaultPython)
	}
	t.Setenv(EnvPython, "/opt/py")
	if Python() != "/opt/py" {
		t.Errorf("Python() = %q with %s=/opt/py", Python(), EnvPython)
	}
}
