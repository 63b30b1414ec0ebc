// Package predict is `runner predict`: it runs a detector (runner/detect) over image
// files, folders (recursively) and videos, and writes annotated copies and the
// detections as JSON and CSV. A bad image among many is reported and skipped.
package predict

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/internal/fsutil"
	"github.com/ssdrunner/ssdrunner/runner/detect"
)

// Options configure Run.
type Options struct {
	// Out is the folder of the outputs: annotated copies (unless NoImages), detections.json
	// and detections.csv.
	Out string
	// NoImages writes no annotated copies (nor videos).
	NoImages bool
	// BatchSize is the number of images decoded together and given to one Detect call.
	BatchSize int
	// Workers decode images in parallel (default 2).
	Workers int
	// Log receives a warning per input that fails.
	Log zerolog.Logger
	// Progress, when set, is called after each batch with the images done.
	Progress func(done int)
}

// Image is the result for one image (or one video frame).
type Image struct {
	Path       string             `json:"path"`
	Frame      *int               `json:"frame,omitempty"` // a video's frame number, from 0
	Width      int                `json:"width"`
	Height     int                `json:"height"`
	Output     string             `json:"output,omitempty"` // the annotated copy (or video)
	Detections []detect.Detection `json:"detections"`
}

// Failure is an input that could not be processed.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Summary is what Run did.
type Summary struct {
	Images   []Image   `json:"images"`
	Failures []Failure `json:"failures,omitempty"`
	// Timing sums the stages over every image; Decode and Write are Run's own (file
	// reading and decoding, drawing and writing the annotated copies).
	Timing  detect.Timing `json:"-"`
	Decode  time.Duration `json:"-"`
	Write   time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
}

// ImageExts and VideoExts are the file name extensions (lower case) of the inputs found
// in folders. A file named explicitly is read whatever its extension: as a video when its
// extension is a video's, else as an image.
var (
	ImageExts = []string{".jpg", ".jpeg", ".png", ".gif"}
	VideoExts = []string{".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}
)

// Input is one file to process.
type Input struct {
	Path  string
	Rel   string // the name of its outputs relative to Options.Out (with the input's extension)
	Video bool   // read as a video
}

// Expand lists the files of inputs: files as given, folders walked recursively (sorted,
// images and videos by extension). The output names keep the folder structure below each
// named folder. A missing input is an error.
func Expand(inputs []string) ([]Input, error) {
	var out []Input
	var errs []error
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !st.IsDir() {
			out = append(out, Input{Path: in, Rel: filepath.Base(in), Video: hasExt(in, VideoExts)})
			continue
		}
		base := filepath.Base(filepath.Clean(in))
		err = filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() {
				return nil
			}
			video := hasExt(p, VideoExts)
			if !video && !hasExt(p, ImageExts) {
				return nil
			}
			rel, _ := filepath.Rel(in, p)
			out = append(out, Input{Path: p, Rel: filepath.Join(base, rel), Video: video})
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// two inputs with one output name: number the later ones
	seen := map[string]int{}
	for i := range out {
		r := out[i].Rel
		if n := seen[r]; n > 0 {
			ext := filepath.Ext(r)
			out[i].Rel = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(r, ext), n+1, ext)
		}
		seen[r]++
	}
	return out, nil
}

func hasExt(p string, exts []string) bool {
	return slices.Contains(exts, strings.ToLower(filepath.Ext(p)))
}

// Run detects objects in every input and writes the outputs. Images go through the
// detector BatchSize at a time; a file that cannot be read or decoded is recorded in the
// summary's Failures and skipped. It stops at ctx's cancellation, with ctx's error and
// the summary of what was done (whose files are written).
func Run(ctx context.Context, det *detect.Detector, inputs []string, opts Options) (*Summary, error) {
	start := time.Now()
	if opts.BatchSize <= 0 {
		opts.BatchSize = 8
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	files, err := Expand(inputs)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no image or video among the inputs")
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	sum := &Summary{}
	var images []Input
	var runErr error
	flushImages := func() error {
		for lo := 0; lo < len(images); lo += opts.BatchSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := runImages(ctx, det, images[lo:min(lo+opts.BatchSize, len(images))], opts, sum); err != nil {
				return err
			}
			if opts.Progress != nil {
				opts.Progress(len(sum.Images) + len(sum.Failures))
			}
		}
		images = images[:0]
		return nil
	}
	for _, f := range files {
		if !f.Video {
			images = append(images, f)
			continue
		}
		if runErr = flushImages(); runErr != nil {
			break
		}
		if err := runVideo(ctx, det, f, opts, sum); err != nil {
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break
			}
			var fatal fatalError
			if errors.As(err, &fatal) {
				runErr = err
				break
			}
			sum.fail(opts.Log, f.Path, err)
		}
	}
	if runErr == nil {
		runErr = flushImages()
	}
	sum.Seconds = time.Since(start).Seconds()
	if err := writeDetections(opts.Out, sum, det.Classes()); err != nil && runErr == nil {
		runErr = err
	}
	return sum, runErr
}

// fatalError is a failure that is not the input's fault (the detector's): it stops Run.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

func (s *Summary) fail(log zerolog.Logger, path string, err error) {
	log.Warn().Str("input", path).Err(err).Msg("skipped")
	s.Failures = append(s.Failures, Failure{Path: path, Error: err.Error()})
}

// runImages decodes a batch of image files in parallel, detects objects in the good ones
// and writes their annotated copies.
func runImages(ctx context.Context, det *detect.Detector, batch []Input, opts Options, sum *Summary) error {
	t0 := time.Now()
	imgs := make([]image.Image, len(batch))
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	sem := make(chan struct{}, opts.Workers)
	for i, in := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			imgs[i], errs[i] = dataset.DecodeImage(in.Path, true)
		}()
	}
	wg.Wait()
	sum.Decode += time.Since(t0)
	var good []image.Image
	var goodIn []Input
	for i, in := range batch {
		if errs[i] != nil {
			sum.fail(opts.Log, in.Path, errs[i])
			continue
		}
		good = append(good, imgs[i])
		goodIn = append(goodIn, in)
	}
	if len(good) == 0 {
		return nil
	}
	dets, timing, err := det.DetectTimed(ctx, good...)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	sum.Timing.Add(timing)
	t1 := time.Now()
	for i, in := range goodIn {
		b := good[i].Bounds()
		rec := Image{Path: in.Path, Width: b.Dx(), Height: b.Dy(), Detections: dets[i]}
		if !opts.NoImages {
			rel := strings.TrimSuffix(in.Rel, filepath.Ext(in.Rel)) + ".jpg"
			path := filepath.Join(opts.Out, rel)
			if err := writeJPEG(path, detect.Draw(good[i], dets[i])); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			rec.Output = path
		}
		sum.Images = append(sum.Images, rec)
	}
	sum.Write += time.Since(t1)
	return nil
}

func writeJPEG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, 0o644, func(w io.Writer) error {
		return jpeg.Encode(w, img, &jpeg.Options{Quality: 90})
	})
}

// writeDetections writes detections.json (the summary) and detections.csv (a row per
// detection: path, frame, class, label, score, xmin, ymin, xmax, ymax; an image without
// detections has no row).
func writeDetections(dir string, sum *Summary, classes []string) error {
	js, err := json.MarshalIndent(struct {
		Classes []string `json:"classes"`
		*Summary
	}{classes, sum}, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteBytesAtomic(filepath.Join(dir, "detections.json"), 0o644, append(js, '\n')); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "detections.csv"), 0o644, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"path", "frame", "class", "label", "score", "xmin", "ymin", "xmax", "ymax"})
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 32) }
		for _, im := range sum.Images {
			frame := ""
			if im.Frame != nil {
				frame = strconv.Itoa(*im.Frame)
			}
			for _, d := range im.Detections {
				cw.Write([]string{im.Path, frame, d.Class, strconv.Itoa(d.Label), f(d.Score), f(d.Box[0]), f(d.Box[1]), f(d.Box[2]), f(d.Box[3])})
			}
		}
		cw.Flush()
		return cw.Error()
	})
}
