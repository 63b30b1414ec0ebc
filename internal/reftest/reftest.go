// Package reftest is the one harness of the tests (and of internal/refbench) that run the
// reference implementation, qfgaohao/pytorch-ssd, with Debian's python3-torch.
//
// The reference checkout is found through SSD_REFERENCE alone (`make reference REF=…`
// exports the commit pinned in the Makefile into build/reference, and make exports
// SSD_REFERENCE to it when it exists); the interpreter is SSD_PYTHON, /usr/bin/python3 by
// default. A comparison that cannot run skips with its reason, unless
// SSD_REQUIRE_REFERENCE=1, which turns every such skip into a failure (`make
// test-reference`). When SSD_REFTEST_LOG names a file, every comparison appends one line
// to it, "ran <test>" or "skipped <test>: <reason>", which `make test` sums up at the end.
package reftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The environment variables of the harness.
const (
	EnvReference = "SSD_REFERENCE"         // a work tree of qfgaohao/pytorch-ssd
	EnvPython    = "SSD_PYTHON"            // the interpreter with torch (default DefaultPython)
	EnvRequire   = "SSD_REQUIRE_REFERENCE" // "1": a comparison that cannot run fails
	EnvLog       = "SSD_REFTEST_LOG"       // a file that gets one line per comparison
)

// DefaultPython is Debian's interpreter, the one that python3-torch installs into.
const DefaultPython = "/usr/bin/python3"

// Python returns the interpreter that runs the reference: $SSD_PYTHON or DefaultPython.
func Python() string {
	if p := os.Getenv(EnvPython); p != "" {
		return p
	}
	return DefaultPython
}

// Checkout returns the reference work tree named by $SSD_REFERENCE, or an error saying
// why there is none.
func Checkout() (string, error) {
	dir := os.Getenv(EnvReference)
	if dir == "" {
		return "", fmt.Errorf("%s is not set (make reference REF=<git URL or clone> exports the pinned commit into build/reference)", EnvReference)
	}
	if _, err := os.Stat(filepath.Join(dir, "vision", "ssd", "ssd.py")); err != nil {
		return "", fmt.Errorf("%s=%s is not a checkout of qfgaohao/pytorch-ssd: %v", EnvReference, dir, err)
	}
	return dir, nil
}

var imports sync.Map // module list -> error

// PythonImports reports whether Python() can import every module; the answer is cached.
func PythonImports(modules ...string) error {
	key := strings.Join(modules, ",")
	if v, ok := imports.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	var err error
	if out, e := exec.Command(Python(), "-c", "import "+key).CombinedOutput(); e != nil {
		err = fmt.Errorf("%s cannot import %s (apt-get install python3-torch python3-torchvision; or set %s): %v %s",
			Python(), key, EnvPython, e, lastLine(out))
	}
	imports.Store(key, err)
	return err
}

// Required reports whether SSD_REQUIRE_REFERENCE asks for every comparison to run.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// Reference returns the reference checkout for the comparison t runs, after checking that
// Python() imports torch and the given extra modules. Without them, and in -short mode,
// it skips t (fails it under SSD_REQUIRE_REFERENCE=1); it records the outcome.
func Reference(t testing.TB, modules ...string) string {
	t.Helper()
	if testing.Short() {
		skip(t, "-short mode")
	}
	if err := PythonImports(append([]string{"torch"}, modules...)...); err != nil {
		skip(t, err.Error())
	}
	dir, err := Checkout()
	if err != nil {
		skip(t, err.Error())
	}
	record(t, "ran")
	t.Logf("reference %s, %s", dir, Versions(modules...))
	return dir
}

// RequirePython is Reference for comparisons that run Python() with the given modules
// but not the reference checkout (e.g. torchvision's own models).
func RequirePython(t testing.TB, modules ...string) {
	t.Helper()
	if testing.Short() {
		skip(t, "-short mode")
	}
	if err := PythonImports(modules...); err != nil {
		skip(t, err.Error())
	}
	record(t, "ran")
	t.Logf("%s", Versions(modules...))
}

// skip ends t as skipped with the reason, or failed under SSD_REQUIRE_REFERENCE=1 (an
// explicit -short run still skips: it asks for no slow test).
func skip(t testing.TB, reason string) {
	t.Helper()
	if Required() && !testing.Short() {
		record(t, "failed: "+reason)
		t.Fatalf("reference comparison cannot run (%s=1): %s", EnvRequire, reason)
	}
	record(t, "skipped: "+reason)
	t.Skipf("reference comparison skipped: %s", reason)
}

var logMu sync.Mutex

// record appends "<outcome> <test>" to $SSD_REFTEST_LOG when it is set. Each line is one
// O_APPEND write, so the test binaries of several packages can share the file.
func record(t testing.TB, outcome string) {
	path := os.Getenv(EnvLog)
	if path == "" {
		return
	}
	verb, reason, _ := strings.Cut(outcome, ": ")
	line := verb + " " + t.Name()
	if reason != "" {
		line += ": " + strings.ReplaceAll(reason, "\n", " ")
	}
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("reftest: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Logf("reftest: %v", err)
	}
}

// Versions returns "torch X[, module Y…]" as Python() reports them.
func Versions(modules ...string) string {
	var prog strings.Builder
	prog.WriteString("import importlib\n")
	seen := map[string]bool{}
	for _, m := range append([]string{"torch"}, modules...) {
		if seen[m] {
			continue
		}
		seen[m] = true
		fmt.Fprintf(&prog, "print('%s', getattr(importlib.import_module('%s'), '__version__', '?'), end=', ')\n", m, m)
	}
	out, err := exec.Command(Python(), "-c", prog.String()).Output()
	if err != nil {
		return "versions unknown: " + err.Error()
	}
	return strings.TrimSuffix(strings.TrimSpace(string(out)), ",")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
