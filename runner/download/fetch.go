// Package download fetches files over HTTP for the dataset downloaders: each file is
// written to a temporary name beside its destination and renamed only when whole, failed
// attempts are retried with exponential back-off (network errors, 5xx, 408 and 429, honouring
// Retry-After), a 404 is reported at once as ErrNotFound, a transfer that stalls is
// aborted and retried, large files resume where a previous attempt or run stopped (HTTP
// range requests, guarded by the ETag), and a Manifest remembers the size of every file
// written so that a later run can tell a complete file from a damaged one without asking
// the server.
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
)

// ErrNotFound is the error of a file the server does not have (HTTP 404 or 410): it is
// not retried.
var ErrNotFound = errors.New("not on the server (HTTP 404)")

// StatusError is an HTTP answer that is neither a success nor worth retrying (a 4xx other
// than 404, 408, 410 and 429), or the last of the retried ones.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

// retryable reports whether an answer with this status may succeed if asked again.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// Client fetches files with retries. The zero value is not usable: use NewClient (or fill
// every field).
type Client struct {
	HTTP *http.Client
	// Attempts is how many times a file is tried at most (the reference's --retry).
	Attempts int
	// Backoff is the wait after the first failed attempt; it doubles after each further
	// one up to MaxBackoff, with ±50 % jitter so that workers do not retry in step.
	Backoff, MaxBackoff time.Duration
	// Stall aborts (and retries) an attempt that receives no byte for this long.
	Stall time.Duration
	Log   zerolog.Logger

	retries atomic.Int64
}

// NewClient returns a client with the given number of attempts per file and connections
// kept for workers concurrent transfers; the defaults: back-off 1 s doubling to 30 s, a
// transfer aborted after 60 s without data, headers awaited 60 s.
func NewClient(attempts, workers int, log zerolog.Logger) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(workers, 2)
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &Client{
		HTTP:       &http.Client{Transport: tr},
		Attempts:   max(attempts, 1),
		Backoff:    time.Second,
		MaxBackoff: 30 * time.Second,
		Stall:      60 * time.Second,
		Log:        log,
	}
}

// Retries is the number of failed attempts that were retried so far.
func (c *Client) Retries() int64 { return c.retries.Load() }

// FetchOptions tune one Fetch.
type FetchOptions struct {
	// Resume keeps the partial file across attempts and runs (as dest's folder's
	// ".<name>.part") and asks the server for the rest; for large files. Without it, each
	// attempt starts afresh in a new temporary file that is removed on failure.
	Resume bool
	// Progress, when set, is called as bytes arrive with the bytes of the file received so
	// far (a resumed file starts at its partial size) and its size (-1 when unknown).
	Progress func(done, total int64)
	// Sync fsyncs the file before the rename and the folder after it (durable across a
	// power loss; costs a disk flush per file).
	Sync bool
}

// Fetch downloads url into dest: the bytes go to a temporary file in dest's folder, which
// is renamed to dest when the whole body arrived (as many bytes as the server announced).
// It returns the size of dest. Failed attempts are retried as the Client says; a 404 returns
// ErrNotFound (wrapped) at once; a cancelled ctx returns ctx's error promptly. dest is never
// left partial, and a temporary file is removed unless opts.Resume keeps it for the next
// try.
func (c *Client) Fetch(ctx context.Context, url, dest string, opts FetchOptions) (int64, error) {
	var last error
	for attempt := 1; ; attempt++ {
		size, wait, err := c.fetchOnce(ctx, url, dest, opts)
		if err == nil {
			return size, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		last = err
		var se *StatusError
		if errors.Is(err, ErrNotFound) || (errors.As(err, &se) && !retryable(se.Code)) || attempt >= c.Attempts {
			break
		}
		c.retries.Add(1)
		d := c.backoff(attempt, wait)
		c.Log.Debug().Str("url", url).Int("attempt", attempt).Dur("wait", d).Err(err).Msg("retrying")
		if err := sleep(ctx, d); err != nil {
			return 0, err
		}
	}
	if c.Attempts > 1 && !errors.Is(last, ErrNotFound) {
		return 0, fmt.Errorf("%s: %w (after %d attempts)", url, last, c.Attempts)
	}
	return 0, fmt.Errorf("%s: %w", url, last)
}

// Size asks the server (HEAD, with the same retries) for the size of url; -1 when the
// server does not say.
func (c *Client) Size(ctx context.Context, url string) (int64, error) {
	var last error
	for attempt := 1; ; attempt++ {
		size, wait, err := c.headOnce(ctx, url)
		if err == nil {
			return size, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		last = err
		var se *StatusError
		if errors.Is(err, ErrNotFound) || (errors.As(err, &se) && !retryable(se.Code)) || attempt >= c.Attempts {
			return 0, fmt.Errorf("%s: %w", url, last)
		}
		c.retries.Add(1)
		if err := sleep(ctx, c.backoff(attempt, wait)); err != nil {
			return 0, err
		}
	}
}

func (c *Client) headOnce(ctx context.Context, url string) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, max(c.Stall, time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	if err := statusErr(resp); err != nil {
		return 0, retryAfter(resp), err
	}
	return resp.ContentLength, 0, nil
}

// backoff is the wait before attempt+1: Backoff·2^(attempt-1), at most MaxBackoff, ±50 %
// (a server's Retry-After, when longer, up to MaxBackoff). Jitter needs no reproducible
// stream, hence math/rand.
func (c *Client) backoff(attempt int, serverWait time.Duration) time.Duration {
	d := c.Backoff
	for i := 1; i < attempt && d < c.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxBackoff)
	d = time.Duration(float64(d) * (0.5 + rand.Float64()))
	if serverWait > d {
		d = min(serverWait, max(c.MaxBackoff, d))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func statusErr(resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ErrNotFound
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return nil
}

// retryAfter reads a Retry-After header given in seconds (0 when absent or a date).
func retryAfter(resp *http.Response) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

// partNames are the resumable partial file of dest and the file that keeps the ETag its
// bytes belong to.
func partNames(dest string) (part, etag string) {
	dir, base := filepath.Split(dest)
	part = filepath.Join(dir, "."+base+".part")
	return part, part + ".etag"
}

// fetchOnce makes one attempt; wait is the server's Retry-After, if any.
func (c *Client) fetchOnce(ctx context.Context, url, dest string, opts FetchOptions) (size int64, wait time.Duration, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	// The bytes as stored: sizes and resume offsets then count the same bytes (Go's
	// transport would otherwise ask for gzip and decompress, hiding the size).
	req.Header.Set("Accept-Encoding", "identity")
	var (
		f        *os.File
		offset   int64
		part     string
		etagFile string
	)
	if opts.Resume {
		part, etagFile = partNames(dest)
		if st, err := os.Stat(part); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
			offset = st.Size()
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
			if tag, err := os.ReadFile(etagFile); err == nil && len(tag) > 0 {
				req.Header.Set("If-Range", string(tag))
			}
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if opts.Resume && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// The partial file is not a prefix of this file (or is all of it, unverifiable):
		// start again.
		os.Remove(part)
		return 0, 0, errors.New("HTTP 416: the partial file does not fit the server's file (dropped; starting again)")
	}
	if err := statusErr(resp); err != nil {
		return 0, retryAfter(resp), err
	}
	total := resp.ContentLength // of this body; -1 when unknown
	switch {
	case opts.Resume && resp.StatusCode == http.StatusPartialContent:
		start, whole, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			os.Remove(part)
			return 0, 0, fmt.Errorf("unexpected Content-Range %q for a request from byte %d (the partial file was dropped)", resp.Header.Get("Content-Range"), offset)
		}
		if f, err = os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return 0, 0, err
		}
		if whole >= 0 {
			total = whole
		} else if total >= 0 {
			total += offset
		}
	case opts.Resume:
		offset = 0
		if f, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return 0, 0, err
		}
		if tag := resp.Header.Get("ETag"); tag != "" && !strings.HasPrefix(tag, "W/") {
			if err := os.WriteFile(etagFile, []byte(tag), 0o644); err != nil {
				f.Close()
				return 0, 0, err
			}
		} else {
			os.Remove(etagFile)
		}
	default:
		dir, base := filepath.Split(dest)
		if dir == "" {
			dir = "."
		}
		if f, err = os.CreateTemp(dir, "."+base+".tmp-*"); err != nil {
			return 0, 0, err
		}
		part = f.Name()
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			if !opts.Resume {
				os.Remove(part)
			}
		}
	}()
	var progress func(int64)
	if opts.Progress != nil {
		progress = func(n int64) { opts.Progress(offset+n, total) }
		progress(0)
	}
	n, err := c.copyWatched(ctx, cancel, f, resp.Body, progress)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
			err = fmt.Errorf("%w (%s without data)", errStalled, c.Stall)
		}
		return 0, 0, err
	}
	got := offset + n
	if total >= 0 && got != total {
		return 0, 0, fmt.Errorf("got %d bytes, the server announced %d", got, total)
	}
	if opts.Sync {
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	if err := os.Rename(part, dest); err != nil {
		return 0, 0, err
	}
	renamed = true
	if opts.Resume {
		os.Remove(etagFile)
	}
	if opts.Sync {
		if err := fsutil.SyncDir(filepath.Dir(dest)); err != nil {
			return 0, 0, err
		}
	}
	return got, 0, nil
}

var errStalled = errors.New("the transfer stalled")

// copyWatched copies src to dst, cancelling the request (cause errStalled) when no byte
// arrives for c.Stall.
func (c *Client) copyWatched(ctx context.Context, cancel context.CancelCauseFunc, dst io.Writer, src io.Reader, progress func(int64)) (int64, error) {
	var watchdog *time.Timer
	if c.Stall > 0 {
		watchdog = time.AfterFunc(c.Stall, func() { cancel(errStalled) })
		defer watchdog.Stop()
	}
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			if watchdog != nil {
				watchdog.Reset(c.Stall)
			}
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			if progress != nil {
				progress(n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

// contentRange parses "bytes START-END/TOTAL" (TOTAL may be "*": whole = -1).
func contentRange(s string) (start, whole int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if tot == "*" {
		return start, -1, true
	}
	whole, err = strconv.ParseInt(tot, 10, 64)
	return start, whole, err == nil
}
