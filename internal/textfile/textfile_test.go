//go:build unix

package textfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.txt")
	os.WriteFile(ok, []byte("\xEF\xBB\xBFcat\r\ndog\r\n"), 0o644)
	if b, err := ReadText(ok, 100); err != nil || string(b) != "cat\r\ndog\r\n" {
		t.Errorf("ReadText = %q, %v", b, err)
	}
	if b, err := ReadFile(ok, 100); err != nil || !strings.HasPrefix(string(b), "\xEF\xBB\xBF") {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := ReadFile(ok, 5); err == nil || !strings.Contains(err.Error(), ok) || !strings.Contains(err.Error(), "larger than the 5 bytes") {
		t.Errorf("over the cap: %v", err)
	}
	if _, err := ReadFile(dir, 100); err == nil || !strings.Contains(err.Error(), "a folder") {
		t.Errorf("folder: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	// Opening the FIFO would block forever: the refusal must come before.
	if _, err := ReadFile(fifo, 100); err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), fifo) {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := ReadFile("/dev/zero", 100); err == nil || !strings.Contains(err.Error(), "device") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "absent"), 100); !os.IsNotExist(err) {
		t.Errorf("absent: %v", err)
	}
}
