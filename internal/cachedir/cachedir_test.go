package cachedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	home, tmp := t.TempDir(), t.TempDir()
	if dir, msg := choose(home, tmp, 7); dir != filepath.Join(home, ".cache", "gotch") || msg != "" {
		t.Errorf("writable home: %q, %q", dir, msg)
	}
	// A $HOME that is a file cannot hold .cache (this fails for root too, unlike modes).
	file := filepath.Join(t.TempDir(), "home")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir, msg := choose(file, tmp, 7)
	if dir != filepath.Join(tmp, "ssdrunner-gotch-cache-7") || !strings.Contains(msg, "using "+dir+" instead") {
		t.Errorf("unwritable home: %q, %q", dir, msg)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("fallback folder not made: %v", err)
	}
}
