package download

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func testClient(attempts int) *Client {
	c := NewClient(attempts, 2, zerolog.Nop())
	c.Backoff, c.MaxBackoff = time.Millisecond, 4*time.Millisecond
	return c
}

func TestFetchStallIsRetried(t *testing.T) {
	body := bytes.Repeat([]byte("abcdefgh"), 4096)
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first { // half the body, then silence until the client gives up
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	c := testClient(3)
	c.Stall = 100 * time.Millisecond
	dest := filepath.Join(t.TempDir(), "f.bin")
	n, err := c.Fetch(context.Background(), srv.URL+"/f", dest, FetchOptions{})
	if err != nil || n != int64(len(body)) || c.Retries() != 1 {
		t.Fatalf("Fetch: %d bytes, %v, %d retries", n, err, c.Retries())
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Error("wrong content")
	}
}

func TestFetchResumeRestartsWhenTheFileChanged(t *testing.T) {
	old := bytes.Repeat([]byte("old-"), 1000)
	cur := bytes.Repeat([]byte("new!"), 1200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(cur))
	}))
	defer srv.Close()
	dir := t.TempDir()
	dest := filepath.Join(dir, "big.csv")
	part, etag := partNames(dest)
	// A partial file of the old version, with the old ETag.
	os.WriteFile(part, old[:1500], 0o644)
	os.WriteFile(etag, []byte(`"v1"`), 0o644)
	n, err := testClient(2).Fetch(context.Background(), srv.URL, dest, FetchOptions{Resume: true})
	if err != nil || n != int64(len(cur)) {
		t.Fatalf("Fetch: %d, %v", n, err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, cur) {
		t.Error("the old partial bytes were kept")
	}
	for _, f := range []string{part, etag} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left", f)
		}
	}
	// Same version: the partial file is continued (one range request, the rest only).
	var ranges []string
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges = append(ranges, r.Header.Get("Range"))
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(cur))
	})
	os.Remove(dest)
	os.WriteFile(part, cur[:1000], 0o644)
	os.WriteFile(etag, []byte(`"v2"`), 0o644)
	var progress []int64
	n, err = testClient(2).Fetch(context.Background(), srv.URL, dest, FetchOptions{Resume: true, Progress: func(d, total int64) {
		if total != int64(len(cur)) {
			t.Errorf("progress total %d", total)
		}
		progress = append(progress, d)
	}})
	if err != nil || n != int64(len(cur)) || len(ranges) != 1 || ranges[0] != "bytes=1000-" {
		t.Fatalf("resume: %d, %v, ranges %q", n, err, ranges)
	}
	if progress[0] != 1000 || progress[len(progress)-1] != int64(len(cur)) {
		t.Errorf("progress %v", progress)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, cur) {
		t.Error("resumed content wrong")
	}
}

func TestFetchStatuses(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/gone":
			http.NotFound(w, r)
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		case "/busy":
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusTooManyRequests)
		case "/short": // announces more than it sends
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("only this"))
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	c := testClient(3)
	_, err := c.Fetch(context.Background(), srv.URL+"/gone", filepath.Join(dir, "a"), FetchOptions{})
	if !errors.Is(err, ErrNotFound) || hits["/gone"] != 1 {
		t.Errorf("404: %v after %d requests", err, hits["/gone"])
	}
	_, err = c.Fetch(context.Background(), srv.URL+"/forbidden", filepath.Join(dir, "b"), FetchOptions{})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 403 || hits["/forbidden"] != 1 {
		t.Errorf("403: %v after %d requests", err, hits["/forbidden"])
	}
	// Retry-After is honoured up to MaxBackoff (4 ms here): three tries, quickly.
	start := time.Now()
	_, err = c.Fetch(context.Background(), srv.URL+"/busy", filepath.Join(dir, "c"), FetchOptions{})
	if !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "after 3 attempts") || hits["/busy"] != 3 || time.Since(start) > 2*time.Second {
		t.Errorf("429: %v after %d requests in %s", err, hits["/busy"], time.Since(start))
	}
	_, err = c.Fetch(context.Background(), srv.URL+"/short", filepath.Join(dir, "d"), FetchOptions{})
	if err == nil || hits["/short"] != 3 {
		t.Errorf("short body: %v after %d requests", err, hits["/short"])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("files left after failures: %v", entries)
	}
	// A cancelled context stops the back-off at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Fetch(ctx, srv.URL+"/busy", filepath.Join(dir, "e"), FetchOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestManifest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.tsv")
	m, err := OpenManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Record("train/a.jpg", 10); err != nil {
		t.Fatal(err)
	}
	m.Record("train/a.jpg", 12)
	m.Record("test/b.jpg", 7)
	if err := m.Record("x\ty", 1); err == nil {
		t.Error("a name with a tab was accepted")
	}
	m.Close()
	// A torn last line (a crash mid-write) and garbage are ignored.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n-3\tneg\n99\tc.jpg")
	f.Close()
	m, err = OpenManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for name, want := range map[string]int64{"train/a.jpg": 12, "test/b.jpg": 7} {
		if n, ok := m.Size(name); !ok || n != want {
			t.Errorf("%s: %d %v, want %d", name, n, ok, want)
		}
	}
	for _, name := range []string{"c.jpg", "neg", "garbage"} {
		if _, ok := m.Size(name); ok {
			t.Errorf("%s was read", name)
		}
	}
}

func TestManifestCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.tsv")
	var b strings.Builder
	for i := range 3000 { // one file re-downloaded 3,000 times
		b.WriteString(strconv.Itoa(i) + "\ta.jpg\n")
	}
	b.WriteString("5\tb.jpg\n")
	os.WriteFile(path, []byte(b.String()), 0o644)
	m, err := OpenManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	data, _ := os.ReadFile(path)
	if string(data) != "2999\ta.jpg\n5\tb.jpg\n" {
		t.Errorf("compacted manifest %q", data)
	}
}
