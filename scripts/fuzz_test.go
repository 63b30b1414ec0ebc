// Package scripts holds the repository's shell scripts; its test checks fuzz.sh with a
// stand-in for the go command.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGo lists two packages with targets: FuzzFlaky fails once with the engine's
// "context deadline exceeded" and passes on retry, FuzzBroken finds a crasher, FuzzLate
// (after it) passes, and FuzzEngine hits the engine error twice.
const fakeGo = `#!/usr/bin/env bash
case "$1 $2" in
"list ./...") echo pkg/a; echo pkg/b ;;
"test -list") [ "$4" = pkg/a ] && printf 'FuzzFlaky\nFuzzBroken\nFuzzLate\n' || printf 'FuzzEngine\nok\n' ;;
*)
  f=$5; n=$(cat "$STATE/$f" 2>/dev/null || echo 0); echo $((n+1)) > "$STATE/$f"
  case "$f" in
  '^FuzzFlaky$') [ "$n" = 0 ] && { echo "--- FAIL: FuzzFlaky"; echo "    context deadline exceeded"; exit 1; } ;;
  '^FuzzBroken$') echo "Failing input written to testdata/fuzz/FuzzBroken/abc"; echo "context deadline exceeded"; exit 1 ;;
  '^FuzzEngine$') echo "context deadline exceeded"; exit 1 ;;
  esac
  echo ok ;;
esac
`

func TestFuzzScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	goBin := filepath.Join(dir, "go")
	if err := os.WriteFile(goBin, []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "fuzz.sh")
	cmd.Env = append(os.Environ(), "GO="+goBin, "STATE="+dir, "FUZZTIME=1s")
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err == nil {
		t.Errorf("fuzz.sh passed with a crasher:\n%s", s)
	}
	count := func(f string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "^"+f+"$"))
		return strings.TrimSpace(string(b))
	}
	for f, want := range map[string]string{"FuzzFlaky": "2", "FuzzBroken": "1", "FuzzLate": "1", "FuzzEngine": "2"} {
		if got := count(f); got != want {
			t.Errorf("%s ran %s times, want %s:\n%s", f, got, want, s)
		}
	}
	for _, w := range []string{"fuzz pkg/a FuzzFlaky: the fuzzing engine stopped", "2 target(s) failed", "pkg/a FuzzBroken", "pkg/b FuzzEngine"} {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "  pkg/a FuzzFlaky") {
		t.Errorf("the retried target is listed as failed:\n%s", s)
	}
}
