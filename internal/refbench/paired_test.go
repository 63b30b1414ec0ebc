package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeReference is a stand-in for reference.py's serve mode (the real one needs torch and
// the reference checkout): it logs "R" for its warm-up and "r" for each step to
// $FAKE_LOG, prints a line of its own before the ready line (as the reference's prints
// would), answers each step with 7 ms and fixed usage, and fails as $FAKE_MODE says.
const fakeReference = `import json, os, sys
mode = os.environ.get("FAKE_MODE", "")
log = open(os.environ["FAKE_LOG"], "a")
if mode == "die-at-start":
    sys.stderr.write("no such model\n")
    sys.exit(3)
assert sys.argv[4] == "serve", sys.argv
log.write("R"); log.flush()
print("loading the model...")
print(json.dumps({"ready": True}), flush=True)
n = 0
for _ in sys.stdin:
    n += 1
    if mode == "die-at-step-2" and n == 2:
        sys.stderr.write("out of memory\n")
        sys.exit(1)
    log.write("r"); log.flush()
    u = {"minflt": 1, "majflt": 0, "user_ms": 5, "sys_ms": 1, "nivcsw": 2}
    print(json.dumps({"case": sys.argv[2], "ms": [7.0], "usage": [u]}), flush=True)
`

// fakePaired sets up the fake reference and returns a case whose step logs "o", and the
// log's path.
func fakePaired(t *testing.T, mode string) (benchCase, string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3:", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reference.py"), []byte(fakeReference), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	t.Setenv("REFBENCH_DIR", dir)
	t.Setenv("SSD_PYTHON", py)
	t.Setenv("FAKE_LOG", log)
	t.Setenv("FAKE_MODE", mode)
	c := benchCase{name: "fake", ref: "fake-case", pair: func() (func() error, func(), error) {
		step := func() error {
			f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = f.WriteString("o")
			return errors.Join(err, f.Close())
		}
		return step, func() {}, nil
	}}
	return c, log
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPairedRound: both sides warm up, then step in turn, the side that goes first
// alternating; the reference's timings and usage come through.
func TestPairedRound(t *testing.T) {
	c, log := fakePaired(t, "")
	ours, theirs, err, refErr := pairedRound(c, "checkout", c.ref, 2, 3, os.Environ())
	if err != nil || refErr != nil {
		t.Fatal(err, refErr)
	}
	// ours warm-up, the reference's warm-up, then pairs: ours first, reference first, ours first
	if got, want := readLog(t, log), "oRorroor"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if len(ours.ms) != 3 || len(ours.use) != 3 {
		t.Errorf("ours: %d timings, %d usages, want 3 each", len(ours.ms), len(ours.use))
	}
	if want := []float64{7, 7, 7}; !reflect.DeepEqual(theirs.ms, want) {
		t.Errorf("reference timings %v, want %v", theirs.ms, want)
	}
	if want := (usage{MinFlt: 1, UserMS: 5, SysMS: 1, InvCS: 2}); len(theirs.use) != 3 || theirs.use[2] != want {
		t.Errorf("reference usage %+v, want 3 × %+v", theirs.use, want)
	}
}

// TestPairedRoundReferenceFails: the reference's failures are the reference's (with what
// it wrote to stderr), and ours stay measured.
func TestPairedRoundReferenceFails(t *testing.T) {
	c, _ := fakePaired(t, "die-at-start")
	_, _, err, refErr := pairedRound(c, "checkout", c.ref, 2, 3, os.Environ())
	if err != nil || refErr == nil || !strings.Contains(refErr.Error(), "no such model") {
		t.Errorf("reference dying at start: err %v, refErr %v; want refErr with its stderr", err, refErr)
	}

	c, _ = fakePaired(t, "die-at-step-2")
	ours, _, err, refErr := pairedRound(c, "checkout", c.ref, 2, 3, os.Environ())
	if err != nil || refErr == nil || !strings.Contains(refErr.Error(), "out of memory") {
		t.Errorf("reference dying at its second step: err %v, refErr %v; want refErr with its stderr", err, refErr)
	}
	if len(ours.ms) != 1 { // pair 1: ours, reference; pair 2: the reference goes first and fails
		t.Errorf("ours measured %d times before the reference failed, want 1", len(ours.ms))
	}
}
