// Package textfile reads the files users hand to runner (experiments, variable files,
// labels, annotations) safely: only regular files, never more than a stated size, and
// text without a UTF-8 byte-order mark.
package textfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Size caps for ReadFile.
const (
	// Config bounds experiment, base and variable files: hand-written, a few KiB.
	Config = 8 << 20
	// Data bounds annotation and label files read whole (the largest public ones, Open
	// Images' training boxes, are about 1.2 GB).
	Data = 8 << 30
)

// ReadFile reads a regular file of at most limit bytes. A FIFO, a device (/dev/zero), a
// folder or a socket is refused before it is opened (opening a FIFO blocks, reading a
// device never ends), and so is a file larger than limit; the errors name the file.
func ReadFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := regular(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %s is larger than the %s this kind of file may have", path, bytesText(fi.Size()), bytesText(limit))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown since Stat: read one byte past the limit to tell.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than the %s this kind of file may have", path, bytesText(limit))
	}
	return data, nil
}

// ReadText is ReadFile without a leading UTF-8 byte-order mark.
func ReadText(path string, limit int64) ([]byte, error) {
	data, err := ReadFile(path, limit)
	return StripBOM(data), err
}

func regular(path string, fi os.FileInfo) error {
	if fi.Mode().IsRegular() {
		return nil
	}
	what := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		what = "a folder, not a file"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case m&os.ModeDevice != 0:
		what = "a device, not a regular file"
	case m&os.ModeSocket != 0:
		what = "a socket, not a regular file"
	}
	return fmt.Errorf("%s: %s", path, what)
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// StripBOM removes a leading UTF-8 byte-order mark, which editors on Windows write and
// which would otherwise become part of the first name, field or key.
func StripBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, bom)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
