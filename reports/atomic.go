package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes a file through write without ever leaving a partial file at path: it
// writes a temporary file in the same folder, syncs it, and renames it over path. On any error,
// or a panic in write, the temporary file is removed and path is left as it was. The file gets
// mode 0644.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if write == nil {
		return errors.New("reports: WriteFileAtomic: nil write function")
	}
	dir, base := filepath.Split(path)
	if base == "" {
		return fmt.Errorf("reports: WriteFileAtomic: %q names a folder, not a file", path)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		done = true
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		done = true
		return fmt.Errorf("reports: writing %s: %w", path, err)
	}
	done = true
	return nil
}
