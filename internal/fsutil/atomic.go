// Package fsutil holds the project's file-system helpers; today the one way to replace a
// file's content: WriteFileAtomic (and WriteBytesAtomic), used for checkpoints, reports,
// formatted experiment files and exported datasets.
package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic replaces the file at path with what write writes, so that path holds
// either its old content or the whole new content, never a part, even if the process or
// the machine dies midway:
//
//  1. write writes into a new temporary file in path's folder (named "."+base+".tmp-*", so
//     it is hidden and on the same file system as path);
//  2. the temporary file gets mode perm (exactly: the umask does not apply), is flushed and
//     fsynced, and closed;
//  3. it is renamed over path (atomic on POSIX file systems), and the folder is fsynced so
//     that the rename itself survives a crash.
//
// If write returns an error or panics, or any step before the rename fails, the temporary
// file is removed, path is left as it was (or absent, if it was), and the error is
// returned wrapped (a panic goes on after the clean-up). The folder must exist. If path is
// a symbolic link, the link is replaced by a regular file.
//
// Only a crash between steps 1 and 3 can leave a temporary file behind (never a partial
// path); an error from syncing the folder is returned after the rename, when path already
// has the new content, which then may not survive a power loss. File systems that cannot
// sync folders (EINVAL, ENOTSUP) are accepted without an error.
func WriteFileAtomic(path string, perm fs.FileMode, write func(io.Writer) error) (err error) {
	if write == nil {
		return fmt.Errorf("writing %s: nil write function", path)
	}
	dir, base := filepath.Split(path)
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("writing %s: the path names a folder, not a file", path)
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			f.Close() // a second Close only reports os.ErrClosed
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	renamed = true
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("writing %s: syncing the folder: %w", path, err)
	}
	return nil
}

// WriteBytesAtomic is WriteFileAtomic writing data.
func WriteBytesAtomic(path string, perm fs.FileMode, data []byte) error {
	return WriteFileAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs the folder dir, so that a rename in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil // the file system does not sync folders
	}
	return err
}
