// Package predict is `runner predict`: it runs a detector (runner/detect) over image
// files, folders (recursively) and videos, and writes annotated copies and the
// detections as JSON and CSV. A bad image among many is reported and skipped.
package predict

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/internal/bufpool"
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
		err := runImages(ctx, det, images, opts, sum)
		images = images[:0]
		return err
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

// inFlight is the number of batches runImages has between reading and writing: one in
// the detector (its forward pass, then its box decoding and NMS), the next read,
// decoded and prepared, waiting for the network, and the one after it being read and
// decoded. With the detector's forward pass taking every core, all of that CPU work runs
// between two forward passes, and the third batch lets its decoding run beside the last
// batch's post-processing instead of after it: with two in flight, a batch's decoding
// started when the batch two before it was answered, and the next forward pass waited
// for it (mb2-ssd-lite, 2 threads on 2 cores, batch 1: the time between forward passes
// 2.8-3.0 ms against 3.3-3.6 with two; README, Prediction).
const inFlight = 3

// imageBatch is a batch of image files on its way through runImages.
type imageBatch struct {
	in     []Input
	imgs   []image.Image // nil where the file could not be read or decoded
	errs   []error
	dets   [][]detect.Detection // of the decoded images, in order
	timing detect.Timing
	decode time.Duration
	err    error         // a failure of the detector (or ctx's cancellation): stops Run
	done   chan struct{} // closed when the fields above are final
}

// runImages detects objects in image files, BatchSize at a time, and writes their
// annotated copies, in a pipeline that keeps the network busy: inFlight goroutines each
// take the next batch, read and decode its files (Workers at a time) and give it to the
// detector, which prepares the next batch and post-processes the one before between
// forward passes (or during them, with a core to spare; the reading and decoding go
// through detect.Detector.Beside alike); this goroutine records the results and writes
// the copies batch by batch in input order. A file that cannot be read or decoded is
// recorded as a failure; an error of the detector or ctx's cancellation stops it, with
// every batch before the failing one recorded.
func runImages(ctx context.Context, det *detect.Detector, files []Input, opts Options, sum *Summary) error {
	if len(files) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pix bufpool.Pool[byte]                  // the pixels of recorded images, for the next ones
	ordered := make(chan *imageBatch, inFlight) // every batch, in input order, to the writer
	work := make(chan *imageBatch)              // the same batches, to the detecting goroutines
	go func() {
		defer close(ordered)
		defer close(work)
		for lo := 0; lo < len(files); lo += opts.BatchSize {
			b := &imageBatch{in: files[lo:min(lo+opts.BatchSize, len(files))], done: make(chan struct{})}
			select {
			case ordered <- b:
			case <-ctx.Done():
				return
			}
			select {
			case work <- b:
			case <-ctx.Done():
				b.err = ctx.Err()
				close(b.done)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				detectBatch(ctx, det, b, opts.Workers, &pix)
				close(b.done)
			}
		}()
	}
	// The loop below ends when the first goroutine has closed ordered, and work with it:
	// the detecting goroutines then finish their batch, and no Detect call outlives Run.
	defer wg.Wait()
	var runErr error
	for b := range ordered {
		<-b.done
		if runErr != nil {
			continue // draining: the goroutines stop at the cancellation
		}
		runErr = recordBatch(det, b, opts, sum)
		recycle(&pix, b.imgs) // recorded and drawn
		if runErr != nil {
			cancel()
			continue
		}
		if opts.Progress != nil {
			opts.Progress(len(sum.Images) + len(sum.Failures))
		}
	}
	if runErr == nil {
		runErr = ctx.Err() // cancelled between batches
	}
	return runErr
}

// detectBatch reads and decodes b's files, workers at a time, and detects objects in the
// ones that decode.
func detectBatch(ctx context.Context, det *detect.Detector, b *imageBatch, workers int, pix *bufpool.Pool[byte]) {
	b.imgs = make([]image.Image, len(b.in))
	b.errs = make([]error, len(b.in))
	took := make([]time.Duration, len(b.in))
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i, in := range b.in {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			took[i] = det.Beside(func() { b.imgs[i], b.errs[i] = dataset.DecodeImageInto(in.Path, true, pix.Any()) })
		}()
	}
	wg.Wait()
	for _, t := range took {
		b.decode += t // the images' own times, summed (waits at the detector's gate left out)
	}
	if err := ctx.Err(); err != nil {
		b.err = err
		return
	}
	var good []image.Image
	for i, img := range b.imgs {
		if b.errs[i] == nil {
			good = append(good, img)
		}
	}
	if len(good) == 0 {
		return
	}
	dets, timing, err := det.DetectTimed(ctx, good...)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		b.err = err
		return
	}
	b.dets, b.timing = dets, timing
}

// recycle keeps the pixel memory of the RGBA images among imgs, which nothing uses any
// more, in pix for the next images to decode into: a 500x375 image is 750 KB, and with a
// new one per image (and a new prepared one, which the detector reuses likewise) the
// garbage collector ran every other image at batch 1, beside the work between forward
// passes.
func recycle(pix *bufpool.Pool[byte], imgs []image.Image) {
	for _, img := range imgs {
		if m, ok := img.(*image.RGBA); ok {
			pix.Put(m.Pix)
		}
	}
}

// recordBatch adds a detected batch to the summary and writes its annotated copies.
func recordBatch(det *detect.Detector, b *imageBatch, opts Options, sum *Summary) error {
	sum.Decode += b.decode
	if b.err != nil {
		return b.err
	}
	sum.Timing.Add(b.timing)
	k := 0
	for i, in := range b.in {
		if b.errs[i] != nil {
			sum.fail(opts.Log, in.Path, b.errs[i])
			continue
		}
		img, dets := b.imgs[i], b.dets[k]
		k++
		bounds := img.Bounds()
		rec := Image{Path: in.Path, Width: bounds.Dx(), Height: bounds.Dy(), Detections: dets}
		if !opts.NoImages {
			rel := strings.TrimSuffix(in.Rel, filepath.Ext(in.Rel)) + ".jpg"
			path := filepath.Join(opts.Out, rel)
			var err error
			// drawing and JPEG encoding: CPU work like the decoding
			sum.Write += det.Beside(func() { err = writeJPEG(path, detect.Draw(img, dets)) })
			if err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
			rec.Output = path
		}
		sum.Images = append(sum.Images, rec)
	}
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
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, "detections.json"), 0o644, func(w io.Writer) error {
		return writeSummaryJSON(w, classes, sum)
	}); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "detections.csv"), 0o644, func(w io.Writer) error {
		return writeDetectionsCSV(w, sum)
	})
}
