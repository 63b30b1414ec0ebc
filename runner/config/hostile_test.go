package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
