package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyRun copies the recorded quickstart run of runner/report's testdata to dst.
func copyRun(t *testing.T, dst string) string {
	t.Helper()
	src := filepath.Join(repoRoot, "runner", "report", "testdata", "20261206-062743")
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReportAndCompareCommands(t *testing.T) {
	root := t.TempDir()
	a := copyRun(t, filepath.Join(root, "runs", "quickstart", "a"))
	b := copyRun(t, filepath.Join(root, "runs", "quickstart", "b"))

	out, errOut, code := run(t, "", "report", a)
	if code != 0 || !strings.Contains(out, filepath.Join(a, "report.html")) {
		t.Fatalf("report: %d\n%s%s", code, out, errOut)
	}
	// a folder of runs: every run below it
	out, errOut, code = run(t, "", "report", "--json", filepath.Join(root, "runs"))
	var results []struct {
		HTML   string   `json:"html"`
		Charts []string `json:"charts"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &results) != nil || len(results) != 2 || results[1].HTML != filepath.Join(b, "report.html") {
		t.Fatalf("report --json of a folder of runs: %d\n%s%s", code, out, errOut)
	}
	cmpDir := filepath.Join(root, "cmp")
	out, errOut, code = run(t, "", "compare", "--out", cmpDir, "--which", "latest", a, b)
	if code != 0 || !strings.Contains(out, "compared 2 runs") {
		t.Fatalf("compare: %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"compare.html", "compare.md", "charts/ap.png", "charts/map.svg", "charts/loss.png", "charts/lr.svg"} {
		if st, err := os.Stat(filepath.Join(cmpDir, f)); err != nil || st.Size() == 0 {
			t.Errorf("compare: %s missing or empty (%v)", f, err)
		}
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, exitUsage, "give a run folder"},
		{[]string{"report", filepath.Join(root, "missing")}, exitError, "no such file or directory"},
		{[]string{"report", filepath.Join(a, "metrics.jsonl")}, exitError, "not a folder"},
		{[]string{"compare"}, exitUsage, "give run folders"},
		{[]string{"compare", "--which", "first", a}, exitUsage, `--which "first": want best or latest`},
		{[]string{"compare", "--out", cmpDir, filepath.Join(root, "cmp")}, exitError, "neither a run folder"},
	} {
		_, errOut, code := run(t, "", c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
}
