// Package openimages downloads Open Images subsets by class, as the PyTorch SSD project's
// open_images_downloader.py does (the same release files, selection rules and output
// layout, which the open_images dataset reads), resumably and safely: see Run.
package openimages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/internal/progress"
	"github.com/ssdrunner/ssdrunner/internal/textfile"
	"github.com/ssdrunner/ssdrunner/runner/download"
)

// Where the reference's script takes the release: the 2018_04 (V4) annotation files from
// Google's bucket and the images from the CVDF's public S3 bucket "open-images-dataset".
const (
	DefaultBaseURL   = "https://storage.googleapis.com/openimages/2018_04"
	DefaultImagesURL = "https://open-images-dataset.s3.amazonaws.com"
)

// File names in the download folder.
const (
	DescriptionsFile = "class-descriptions-boxable.csv"
	ManifestFile     = "download-manifest.tsv"
	MissingFile      = "missing-images.txt"
	lockFile         = ".download.lock"
)

// Splits are the release's splits, in the order the reference processes them.
var Splits = []string{"train", "validation", "test"}

// AnnotationsFile is the release's box file of split, kept in the download folder.
func AnnotationsFile(split string) string { return split + "-annotations-bbox.csv" }

// SelectionFile is the file of split's selected boxes, which the open_images dataset reads.
func SelectionFile(split string) string { return "sub-" + split + "-annotations-bbox.csv" }

// Options configure Run.
type Options struct {
	Root  string // the download folder (created)
	Rules Rules
	// Splits to process, a subset of Splits (empty: all). The random draws depend on the
	// splits processed before: only a run of all three matches the reference's selection
	// of each.
	Splits []string
	// BaseURL serves class-descriptions-boxable.csv and <split>/<split>-annotations-bbox.csv;
	// ImagesURL serves <split>/<ImageID>.jpg.
	BaseURL, ImagesURL string
	Workers            int // concurrent image downloads
	Client             *download.Client
	Log                zerolog.Logger
	// Console gets the progress bars when Terminal is set.
	Console  io.Writer
	Terminal bool
}

// ClassCount is one class's share of a split's selection.
type ClassCount struct {
	Class  string `json:"class"`
	Images int    `json:"images"`
	Boxes  int    `json:"boxes"`
}

// SplitSummary is one split's selection.
type SplitSummary struct {
	Split       string       `json:"split"`
	File        string       `json:"file"` // the selection file written
	RowsRead    int          `json:"rows_read"`
	Boxes       int          `json:"boxes"`
	Images      int          `json:"images"`
	Classes     []ClassCount `json:"classes"`
	ReleaseFile string       `json:"release_file"`
}

// Failure is an image that could not be downloaded.
type Failure struct {
	Image string `json:"image"` // <split>/<ImageID>.jpg
	Error string `json:"error"`
}

// Summary is what a Run did.
type Summary struct {
	Root        string         `json:"root"`
	Classes     []string       `json:"classes"`
	Seed        uint32         `json:"seed"`
	Splits      []SplitSummary `json:"splits"`
	Images      int            `json:"images"`     // selected, all splits
	Downloaded  int            `json:"downloaded"` // this run
	Present     int            `json:"present"`    // already there, whole
	Missing     int            `json:"missing"`    // not on the server (404)
	MissingFile string         `json:"missing_file,omitempty"`
	Failed      int            `json:"failed"`
	Failures    []Failure      `json:"failures,omitempty"` // the first maxFailures
	Pending     int            `json:"pending"`            // not tried (interrupted)
	Bytes       int64          `json:"bytes"`              // downloaded this run, release files included
	Retries     int64          `json:"retries"`
	Seconds     float64        `json:"seconds"`
	Interrupted bool           `json:"interrupted"`
}

const maxFailures = 20

// ErrFailed is returned (wrapped) when some images could not be downloaded.
var ErrFailed = errors.New("some images could not be downloaded")

// Run downloads the selection into opts.Root:
//
//   - class-descriptions-boxable.csv and <split>-annotations-bbox.csv from BaseURL, unless
//     present and whole (checked against the manifest or, for files another tool wrote,
//     the server's size); an interrupted transfer resumes;
//   - for each split, sub-<split>-annotations-bbox.csv: the rows Selector.Select keeps,
//     read in one streaming pass over the annotation file;
//   - <split>/<ImageID>.jpg for every selected image, Workers at a time; an image present
//     with its recorded size (or the server's) is skipped, a 404 is counted and listed in
//     missing-images.txt (a file that --filter-file accepts), other failures are retried
//     and then counted.
//
// Every file is written under a temporary name and renamed when whole. A cancelled ctx
// stops the work promptly (the summary says so and the error is ctx's); running again
// continues. Two runs cannot write into one folder at once (a lock file says so).
func Run(ctx context.Context, opts Options) (*Summary, error) {
	start := time.Now()
	if err := opts.check(); err != nil {
		return nil, err
	}
	root := opts.Root
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("download folder: %w", err)
	}
	unlock, err := lock(filepath.Join(root, lockFile))
	if err != nil {
		return nil, err
	}
	defer unlock()
	man, err := download.OpenManifest(filepath.Join(root, ManifestFile))
	if err != nil {
		return nil, err
	}
	defer man.Close()
	r := &runner{opts: opts, man: man, log: opts.Log}
	sum := &Summary{Root: root, Seed: opts.Rules.Seed}
	for _, c := range opts.Rules.Classes {
		sum.Classes = append(sum.Classes, c.String())
	}
	r.sum = sum
	defer func() {
		sum.Retries = opts.Client.Retries()
		sum.Seconds = time.Since(start).Seconds()
	}()

	descFile := filepath.Join(root, DescriptionsFile)
	if err := r.ensure(ctx, opts.BaseURL+"/"+DescriptionsFile, descFile, DescriptionsFile); err != nil {
		return r.stopped(ctx, err)
	}
	desc, err := readDescriptions(descFile)
	if err != nil {
		return nil, err
	}
	labels, err := desc.Resolve(opts.Rules.Classes)
	if err != nil {
		return nil, err
	}
	sel, err := NewSelector(opts.Rules, labels)
	if err != nil {
		return nil, err
	}
	var jobs []job
	for _, split := range Splits {
		if !slices.Contains(opts.Splits, split) {
			continue
		}
		name := AnnotationsFile(split)
		file := filepath.Join(root, name)
		if err := r.ensure(ctx, opts.BaseURL+"/"+split+"/"+name, file, name); err != nil {
			return r.stopped(ctx, err)
		}
		ss, images, err := r.selectSplit(ctx, sel, split, file)
		if err != nil {
			return r.stopped(ctx, err)
		}
		sum.Splits = append(sum.Splits, *ss)
		for _, id := range images {
			jobs = append(jobs, job{split: split, id: id})
		}
	}
	sum.Images = len(jobs)
	for _, split := range opts.Splits {
		dir := filepath.Join(root, split)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		removeStaleTemps(dir, r.log)
	}
	missing := r.downloadImages(ctx, jobs)
	if ctx.Err() == nil {
		if err := r.writeMissing(missing); err != nil {
			return sum, err
		}
	}
	if ctx.Err() != nil {
		sum.Interrupted = true
		return sum, ctx.Err()
	}
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%w: %d of %d failed (first: %s: %s); run the same command again to retry them", ErrFailed, sum.Failed, sum.Images, sum.Failures[0].Image, sum.Failures[0].Error)
	}
	return sum, nil
}

func (o *Options) check() error {
	switch {
	case strings.TrimSpace(o.Root) == "":
		return errors.New("the download folder (--root) is empty")
	case len(o.Rules.Classes) == 0:
		return errors.New("no class given")
	case o.Client == nil:
		return errors.New("no HTTP client")
	}
	if o.Workers < 1 {
		o.Workers = 1
	}
	if len(o.Splits) == 0 {
		o.Splits = Splits
	}
	for _, s := range o.Splits {
		if !slices.Contains(Splits, s) {
			return fmt.Errorf("split %q is not one of %s", s, strings.Join(Splits, ", "))
		}
	}
	for _, u := range []*string{&o.BaseURL, &o.ImagesURL} {
		*u = strings.TrimRight(*u, "/")
		p, err := url.Parse(*u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("URL %q: want http(s)://host[/path]", *u)
		}
	}
	if o.Console == nil {
		o.Console = io.Discard
		o.Terminal = false
	}
	return nil
}

type runner struct {
	opts Options
	man  *download.Manifest
	log  zerolog.Logger
	sum  *Summary
}

// stopped returns the summary so far with ctx's error when ctx was cancelled, else err.
func (r *runner) stopped(ctx context.Context, err error) (*Summary, error) {
	if ctx.Err() != nil {
		r.sum.Interrupted = true
		return r.sum, ctx.Err()
	}
	return nil, err
}

// lock takes an exclusive lock on path (created), or says that another run holds it.
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another download is writing into %s (it holds %s): wait for it to finish", filepath.Dir(path), path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func readDescriptions(file string) (*Descriptions, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadDescriptions(f, file)
}

// ensure makes dest (named rel in the manifest) a whole copy of url: a present file is
// kept when its size is the recorded one or, unrecorded, the server's (a file the server
// cannot be asked about is kept with a warning); otherwise it is fetched, resuming a
// partial transfer.
func (r *runner) ensure(ctx context.Context, url, dest, rel string) error {
	st, err := os.Stat(dest)
	switch {
	case err == nil && !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", dest)
	case err == nil:
		if n, ok := r.man.Size(rel); ok {
			if n == st.Size() {
				return nil
			}
			r.log.Warn().Str("file", dest).Int64("size", st.Size()).Int64("recorded", n).Msg("the file's size is not the one downloaded: downloading it again")
			break
		}
		n, err := r.opts.Client.Size(ctx, url)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || n < 0 {
			r.log.Warn().Str("file", dest).AnErr("check", err).Msg("using the file present; its size could not be checked against the server's")
			return nil
		}
		if n == st.Size() {
			return r.man.Record(rel, n)
		}
		r.log.Warn().Str("file", dest).Int64("size", st.Size()).Int64("server", n).Msg("the file's size is not the server's: downloading it again")
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	r.log.Info().Str("url", url).Msg("downloading")
	bar := progress.New(r.opts.Console, r.opts.Terminal, 0, 0)
	logged := time.Now()
	n, err := r.opts.Client.Fetch(ctx, url, dest, download.FetchOptions{Resume: true, Sync: true, Progress: func(done, total int64) {
		if r.opts.Terminal {
			bar.SetTotal(total)
			count := bytesText(done)
			if total > 0 {
				count += "/" + bytesText(total)
			}
			bar.Update(done, rel, count, rateText(done, bar.Elapsed()))
		} else if time.Since(logged) > 10*time.Second {
			logged = time.Now()
			r.log.Info().Str("file", rel).Int64("bytes", done).Int64("of", total).Msg("downloading")
		}
	}})
	bar.Done()
	if err != nil {
		return err
	}
	r.sum.Bytes += n
	return r.man.Record(rel, n)
}

// selectSplit reads split's annotation file, selects and writes the selection file.
func (r *runner) selectSplit(ctx context.Context, sel *Selector, split, file string) (*SplitSummary, []string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	r.log.Info().Str("file", file).Str("size", bytesText(size)).Msg("selecting the classes' boxes")
	bar := progress.New(r.opts.Console, r.opts.Terminal, size, 0)
	t, err := sel.Read(&ctxReader{ctx: ctx, r: f}, file, func(n int64) {
		bar.Update(n, "reading "+filepath.Base(file), bytesText(n)+"/"+bytesText(size), "")
	})
	bar.Done()
	if err != nil {
		return nil, nil, err
	}
	rows := sel.Select(t)
	out := filepath.Join(r.opts.Root, SelectionFile(split))
	if err := fsutil.WriteFileAtomic(out, 0o644, func(w io.Writer) error {
		return WriteSelection(w, t, rows, r.opts.Rules.Classes)
	}); err != nil {
		return nil, nil, err
	}
	images := Images(rows)
	ss := &SplitSummary{Split: split, File: out, ReleaseFile: file, RowsRead: t.Lines, Boxes: len(rows), Images: len(images)}
	perClass := make([]map[string]bool, len(r.opts.Rules.Classes))
	boxes := make([]int, len(perClass))
	for k := range perClass {
		perClass[k] = map[string]bool{}
	}
	for _, row := range rows {
		perClass[row.Class][row.Image] = true
		boxes[row.Class]++
	}
	for k, c := range r.opts.Rules.Classes {
		ss.Classes = append(ss.Classes, ClassCount{Class: c.Name, Images: len(perClass[k]), Boxes: boxes[k]})
	}
	r.log.Info().Str("split", split).Int("rows_read", t.Lines).Int("boxes", len(rows)).Int("images", len(images)).Str("file", out).Msg("selected")
	return ss, images, nil
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// removeStaleTemps removes the temporary files of image downloads that a killed run left
// (the lock guarantees that no other run is writing them).
func removeStaleTemps(dir string, log zerolog.Logger) {
	stale, _ := filepath.Glob(filepath.Join(dir, ".*.jpg.tmp-*"))
	for _, f := range stale {
		if err := os.Remove(f); err == nil {
			log.Debug().Str("file", f).Msg("removed a temporary file of an earlier run")
		}
	}
}

type job struct{ split, id string }

func (j job) rel() string { return j.split + "/" + j.id + ".jpg" }

// downloadImages fetches the images Workers at a time, updating the summary; it returns
// the ids not on the server.
func (r *runner) downloadImages(ctx context.Context, jobs []job) []string {
	var (
		next                                 atomic.Int64
		downloaded, present, missing, failed atomic.Int64
		bytes                                atomic.Int64
		mu                                   sync.Mutex
		failures                             []Failure
		missingIDs                           []string
		wg                                   sync.WaitGroup
	)
	fail := func(j job, err error) {
		failed.Add(1)
		mu.Lock()
		if len(failures) < maxFailures {
			failures = append(failures, Failure{Image: j.rel(), Error: err.Error()})
		}
		mu.Unlock()
		r.log.Warn().Str("image", j.rel()).Err(err).Msg("download failed")
	}
	work := func() {
		defer wg.Done()
		for ctx.Err() == nil {
			i := int(next.Add(1)) - 1
			if i >= len(jobs) {
				return
			}
			j := jobs[i]
			n, status, err := r.image(ctx, j)
			switch {
			case err != nil && ctx.Err() != nil:
				return // interrupted: the job counts as pending
			case status == statusPresent:
				present.Add(1)
			case status == statusMissing:
				missing.Add(1)
				mu.Lock()
				missingIDs = append(missingIDs, j.id)
				mu.Unlock()
				r.log.Debug().Str("image", j.rel()).Msg("not on the server (404)")
			case err != nil:
				fail(j, err)
			default:
				downloaded.Add(1)
				bytes.Add(n)
			}
		}
	}
	workers := min(r.opts.Workers, max(len(jobs), 1))
	wg.Add(workers)
	for range workers {
		go work()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	bar := progress.New(r.opts.Console, r.opts.Terminal, int64(len(jobs)), 0)
	total := len(jobs)
	report := func() int64 {
		d := downloaded.Load() + present.Load() + missing.Load() + failed.Load()
		text := fmt.Sprintf("%s  %d present, %d not found, %d failed", rateText(bytes.Load(), bar.Elapsed()), present.Load(), missing.Load(), failed.Load())
		bar.Update(d, "images", fmt.Sprintf("%d/%d", d, total), text)
		return d
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	logged := time.Now()
	if total > 0 {
		r.log.Info().Int("images", total).Int("workers", workers).Msg("downloading images")
	}
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			d := report()
			if !r.opts.Terminal && time.Since(logged) >= 10*time.Second {
				logged = time.Now()
				r.log.Info().Int64("done", d).Int("of", total).Int64("downloaded", downloaded.Load()).Int64("present", present.Load()).
					Int64("not_found", missing.Load()).Int64("failed", failed.Load()).Msg("downloading images")
			}
		}
	}
	if total > 0 {
		report()
	}
	bar.Done()
	s := r.sum
	s.Downloaded, s.Present, s.Missing, s.Failed = int(downloaded.Load()), int(present.Load()), int(missing.Load()), int(failed.Load())
	s.Pending = total - s.Downloaded - s.Present - s.Missing - s.Failed
	s.Bytes += bytes.Load()
	slices.SortFunc(failures, func(a, b Failure) int { return strings.Compare(a.Image, b.Image) })
	s.Failures = failures
	slices.Sort(missingIDs)
	return missingIDs
}

type imageStatus int

const (
	statusDownloaded imageStatus = iota
	statusPresent
	statusMissing
)

// image makes sure one image is present and whole.
func (r *runner) image(ctx context.Context, j job) (int64, imageStatus, error) {
	rel := j.rel()
	dest := filepath.Join(r.opts.Root, j.split, j.id+".jpg")
	url := r.opts.ImagesURL + "/" + j.split + "/" + j.id + ".jpg"
	if st, err := os.Stat(dest); err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		if n, ok := r.man.Size(rel); ok && n == st.Size() {
			return 0, statusPresent, nil
		} else if !ok {
			// Written by another tool (e.g. the reference's script): ask the server.
			n, err := r.opts.Client.Size(ctx, url)
			switch {
			case err == nil && (n == st.Size() || n < 0):
				return 0, statusPresent, r.man.Record(rel, st.Size())
			case errors.Is(err, download.ErrNotFound):
				return 0, statusPresent, nil // ours is the only copy: keep it
			case err != nil:
				return 0, 0, err
			}
		}
		r.log.Debug().Str("image", rel).Int64("size", st.Size()).Msg("present with another size: downloading it again")
	}
	n, err := r.opts.Client.Fetch(ctx, url, dest, download.FetchOptions{Sync: true})
	if errors.Is(err, download.ErrNotFound) {
		return 0, statusMissing, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return n, statusDownloaded, r.man.Record(rel, n)
}

// writeMissing writes the ids not on the server to missing-images.txt (one per line, the
// format of --filter-file), or removes the file when there are none.
func (r *runner) writeMissing(ids []string) error {
	path := filepath.Join(r.opts.Root, MissingFile)
	if len(ids) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	r.sum.MissingFile = path
	return fsutil.WriteBytesAtomic(path, 0o644, []byte(strings.Join(ids, "\n")+"\n"))
}

// ReadFilterFile reads the image ids of a --filter-file: one per line, spaces trimmed,
// empty lines skipped (as the reference reads it).
func ReadFilterFile(path string) ([]string, error) {
	data, err := textfile.ReadText(path, textfile.Data)
	if err != nil {
		return nil, fmt.Errorf("filter file: %w", err)
	}
	var ids []string
	for line := range strings.Lines(string(data)) {
		if id := strings.TrimSpace(line); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// BytesText writes a byte count for people (binary units).
func BytesText(n int64) string { return bytesText(n) }

func rateText(n int64, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return bytesText(int64(float64(n)/d.Seconds())) + "/s"
}
