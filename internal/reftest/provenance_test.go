package reftest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryGoldenHasProvenance checks that each file directly in a testdata folder of the
// repository (the golden files and the fixtures their generators write; scripts —
// generators and the helpers tests run, Python or JavaScript — and sub-folders of
// hand-made inputs aside) has an entry in its folder's
// PROVENANCE.json, and logs them.
func TestEveryGoldenHasProvenance(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "*", "*", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var golden []string
		for _, e := range entries {
			if name := e.Name(); e.Type().IsRegular() && !isScript(name) && name != ProvenanceFile {
				golden = append(golden, name)
			}
		}
		if len(golden) == 0 {
			continue
		}
		m, err := ReadProvenance(dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		for _, g := range golden {
			o, ok := m[g]
			switch {
			case !ok:
				t.Errorf("%s has no entry in %s", filepath.Join(dir, g), ProvenanceFile)
			case o.Generator == "":
				t.Errorf("%s: entry without a generator", filepath.Join(dir, g))
			default:
				n++
				t.Logf("%s: %v", filepath.Join(dir, g), o)
			}
		}
		for name := range m {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s lists %s, which is not there", filepath.Join(dir, ProvenanceFile), name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no golden file found: the test looks in ../../*/*/testdata")
	}
}

// isScript tells the scripts of a testdata folder (golden generators, and the helpers that
// tests run under python3 or node) from the data files that need a provenance entry.
func isScript(name string) bool {
	return strings.HasSuffix(name, ".py") || strings.HasSuffix(name, ".js")
}
