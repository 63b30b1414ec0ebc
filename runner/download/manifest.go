package download

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

// Manifest records the size of every file a downloader wrote, as lines "SIZE<TAB>NAME"
// (NAME relative to the download folder) appended to a text file: a file present with its
// recorded size is whole (it was renamed into place only when complete), one with another
// size was damaged since. Each record is one append write, so a crash loses at most the
// record of the file in progress (that file is then checked again); unreadable lines are
// ignored. Safe for concurrent use.
type Manifest struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	sizes map[string]int64
}

// OpenManifest reads the manifest at path (absent: empty) and opens it for appending. A
// manifest with many superseded lines is first rewritten (atomically) with one per file.
func OpenManifest(path string) (*Manifest, error) {
	m := &Manifest{path: path, sizes: map[string]int64{}}
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("download manifest: %w", err)
	}
	lines := 0
	for line := range bytes.Lines(data) {
		lines++
		s, name, ok := strings.Cut(strings.TrimRight(string(line), "\r\n"), "\t")
		n, err := strconv.ParseInt(s, 10, 64)
		if !ok || err != nil || n < 0 || name == "" || !strings.HasSuffix(string(line), "\n") {
			continue
		}
		m.sizes[name] = n
	}
	if lines > 2*len(m.sizes)+1000 {
		names := slices.Sorted(maps.Keys(m.sizes))
		err := fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
			bw := bufio.NewWriter(w)
			for _, k := range names {
				fmt.Fprintf(bw, "%d\t%s\n", m.sizes[k], k)
			}
			return bw.Flush()
		})
		if err != nil {
			return nil, fmt.Errorf("download manifest: %w", err)
		}
	}
	if m.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return nil, fmt.Errorf("download manifest: %w", err)
	}
	return m, nil
}

// Size returns the recorded size of name.
func (m *Manifest) Size(name string) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.sizes[name]
	return n, ok
}

// Record notes that name (relative to the download folder; no tab or newline) now has
// size bytes.
func (m *Manifest) Record(name string, size int64) error {
	if strings.ContainsAny(name, "\t\r\n") {
		return fmt.Errorf("download manifest: name %q has a tab or line break", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.sizes[name]; ok && n == size {
		return nil
	}
	if _, err := fmt.Fprintf(m.f, "%d\t%s\n", size, name); err != nil {
		return fmt.Errorf("download manifest %s: %w", m.path, err)
	}
	m.sizes[name] = size
	return nil
}

// Close closes the manifest file.
func (m *Manifest) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f.Close()
}
