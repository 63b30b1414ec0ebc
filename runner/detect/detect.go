// Package detect runs a trained SSD on images from Go: Load a checkpoint (one written by
// `runner apply`, or a reference .pth with its experiment or model name and labels),
// Detect objects in decoded images, Close.
//
//	d, err := detect.Load("runs/quickstart/20261206-101500/checkpoints/best.pt", detect.Options{})
//	if err != nil { … }
//	defer d.Close()
//	dets, err := d.Detect(ctx, img) // dets[0]: the boxes found in img, in its pixels
//
// Images go through the experiment's test transform (resize to the anchors' input size,
// normalise), the network in evaluation mode and the experiment's evaluation.nms, exactly
// as `runner eval` and the reference's Predictor.predict; boxes come back in the pixels
// of each input image (corner form, not clipped, as the reference).
//
// A Detector is safe for use by several goroutines: images are prepared on the calling
// goroutines, in parallel, and the libtorch work of all callers is serialised on one
// goroutine locked to its OS thread (the threading rule of internal/torch): the forward
// pass, then the box decoding and NMS, the latter on a second such goroutine when the
// forward pass leaves a core free (fewer libtorch threads than cores), so that it runs
// beside the next forward pass. With several calls in flight, one batch's
// post-processing runs beside the next batch's preparation; when the forward pass takes
// every core, the work beside it waits for it (see Beside). Several images given to one Detect call go through the network together,
// Options.BatchSize at a time.
package detect

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/internal/bufpool"
	"github.com/ssdrunner/ssdrunner/internal/rng"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// Options configure Load. Everything is optional for a checkpoint of `runner apply`.
type Options struct {
	// Experiment is an experiment file or a run folder: the model of a weights file that
	// records none (a reference .pth), or one that replaces a checkpoint's.
	Experiment string
	// Model is a built-in model (`runner list model`: mb1-ssd, mb2-ssd-lite, …), for a
	// weights file without an experiment; Labels must name its classes.
	Model string
	// Labels is a labels file (one class per line, BACKGROUND first or added): the
	// classes of a .pth. With a checkpoint of ours it must agree with the checkpoint's.
	Labels string
	// Set are overrides of the experiment's keys, as `--set PATH=VALUE`, e.g.
	// "evaluation.nms.score_threshold=0.4", "evaluation.nms.method=soft",
	// "evaluation.nms.top_k=10", "evaluation.nms.class_agnostic=true",
	// "model.anchors.image_size=320".
	Set []string
	// Vars set the experiment's variables, as `-var NAME=VALUE`.
	Vars []string
	// BatchSize is the largest number of images that go through the network together
	// (default 8).
	BatchSize int
	// Threads is libtorch's thread count (default: the experiment's training.threads,
	// whose 0 means every core).
	Threads int
	// Unfolded keeps every batch norm apart from the convolution before it. By default
	// a detector folds them in once it has loaded the weights (model.SSD.FoldBatchNorms:
	// one pass fewer over the activations per batch norm), which gives the same
	// detections up to float32 rounding; unfolded, the network runs the reference's ops,
	// as `runner eval` does.
	Unfolded bool
	// Log receives the build's warnings.
	Log zerolog.Logger
}

// Detection is one object found in an image.
type Detection struct {
	// Box is xmin, ymin, xmax, ymax in pixels of the input image.
	Box   [4]float64 `json:"box"`
	Label int        `json:"label"` // class index, >= 1 (0 is the background)
	Class string     `json:"class"`
	Score float64    `json:"score"` // the class probability (decayed, with soft NMS)
}

// Timing is the time spent per stage, summed over the images of a Detect call.
type Timing struct {
	Images      int
	Preprocess  time.Duration // image to normalised tensor data (test transform)
	Forward     time.Duration // the network
	DecodeBoxes time.Duration // softmax and box decoding against the priors
	NMS         time.Duration // candidate selection and non-maximum suppression
}

// Add adds o's times and images to t.
func (t *Timing) Add(o Timing) {
	t.Images += o.Images
	t.Preprocess += o.Preprocess
	t.Forward += o.Forward
	t.DecodeBoxes += o.DecodeBoxes
	t.NMS += o.NMS
}

// Detector is a loaded model ready to detect objects. Its methods may be called from
// several goroutines; Close frees it.
type Detector struct {
	classes   []string
	size      int
	batchSize int
	threads   int // libtorch's thread count, the forward pass's
	nms       postprocess.Config
	run       *build.Run // owned by the worker goroutine

	gate gate // keeps the CPU work beside the forward pass out of it when it takes every core

	// planes are buffers for prepared images, reused once their batch's input tensor
	// holds a copy: a prepared image is 1 MB at 300x300, and with a new one per image the
	// garbage collector ran every other image of runner predict at batch 1 (its live
	// heap is a few MB), slowing the work between forward passes.
	planes bufpool.Pool[float32]

	jobs      chan job
	done      chan struct{}
	closeOnce sync.Once
	mu        sync.RWMutex // held for reading while a Detect call may send jobs
	closed    bool
}

// job is one batch for the worker.
type job struct {
	pixels [][]float32 // CHW, normalised, one per image
	sizes  [][2]int
	reply  chan jobResult
}

type jobResult struct {
	dets   [][]Detection
	timing Timing
	err    error
}

// Load builds the model of checkpoint (see Options) and loads its weights. Problems in
// the experiment come back as an *ExperimentError; a checkpoint whose classes do not fit
// the labels, or that does not fit the model, is refused.
func Load(checkpoint string, opts Options) (*Detector, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 8
	}
	d := &Detector{batchSize: opts.BatchSize, jobs: make(chan job), done: make(chan struct{})}
	ready := make(chan error, 1)
	go d.worker(checkpoint, opts, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return d, nil
}

// worker builds the run and then serves jobs, on one locked OS thread, until Close.
func (d *Detector) worker(checkpoint string, opts Options, ready chan<- error) {
	// The goroutine ends locked, so its OS thread ends with it, and the OpenMP team that
	// the thread's parallel ops started goes too (see internal/torch: another team, left
	// idle on a thread back in Go's pool, made a later detector's forward pass 1.7 times
	// slower).
	runtime.LockOSThread()
	defer close(d.done)
	src, err := ResolveExperiment(checkpoint, opts)
	if err != nil {
		ready <- err
		return
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = src.Experiment.Experiment.Training.Threads
	}
	d.threads = torch.SetThreads(threads)
	d.gate.exclusive = d.threads >= runtime.NumCPU()
	run, err := BuildSource(src, opts)
	if err != nil {
		ready <- err
		return
	}
	defer run.Close()
	if !opts.Unfolded {
		if _, err := run.Model.FoldBatchNorms(); err != nil {
			ready <- fmt.Errorf("%s: fold the batch norms: %w", checkpoint, err)
			return
		}
	}
	d.run, d.classes, d.size, d.nms = run, run.Classes, run.ImageSize, run.NMS
	ready <- nil
	if d.gate.exclusive {
		for j := range d.jobs {
			d.forwardThenPost(j)
		}
		return
	}
	// One batch may wait between the stages, so the forward pass of the next starts as
	// soon as a batch's outputs are handed over.
	post, postDone := make(chan forwarded, 1), make(chan struct{})
	go d.postStage(post, postDone)
	for j := range d.jobs {
		if f, ok := d.forwardStage(j); ok {
			post <- f
		}
	}
	close(post)
	<-postDone // the post stage uses the run: it finishes before the run is closed
}

// gate orders the CPU work around the forward pass with it. When the forward pass's
// libtorch threads take every core, work beside it (decoding and preparing images, the
// box decoding and NMS of the batch before) waits for it to finish, and it waits for
// that work: measured with mb2-ssd-lite at 2 threads on 2 cores, a forward pass that
// took 25-38 ms per image alone took 50-65 ms with the rest of the pipeline running
// beside it, since an OpenMP team stalls at every barrier while one of its threads is
// off its core, and the pipeline's end-to-end time was longer than doing the stages one
// after the other. Work beside the forward pass still runs in parallel with other such
// work (the next batch's preparation with the last one's NMS). With a core to spare
// (fewer threads than cores), nothing waits.
type gate struct {
	exclusive bool // the forward pass takes every core
	mu        sync.RWMutex
}

// forward runs f, the forward pass, alone when the gate is exclusive.
func (g *gate) forward(f func()) {
	if g.exclusive {
		g.mu.Lock()
		defer g.mu.Unlock()
	}
	f()
}

// beside runs f, CPU work beside the forward pass, outside it when the gate is exclusive.
func (g *gate) beside(f func()) {
	if g.exclusive {
		g.mu.RLock()
		defer g.mu.RUnlock()
	}
	f()
}

// Beside runs f, CPU work done beside the detector such as reading and decoding the next
// images, at a time when it does not slow the network down: when the forward pass's
// libtorch threads take every core, not during a forward pass (it waits for the one in
// progress, and the next waits for f); otherwise at once. It returns the time f took, the
// wait left out. f must not call the Detector's methods.
func (d *Detector) Beside(f func()) time.Duration {
	var took time.Duration
	d.gate.beside(func() {
		start := time.Now()
		f()
		took = time.Since(start)
	})
	return took
}

// Classes returns the class names, BACKGROUND first.
func (d *Detector) Classes() []string { return append([]string(nil), d.classes...) }

// ImageSize is the network's input width and height.
func (d *Detector) ImageSize() int { return d.size }

// NMS returns the post-processing settings in effect.
func (d *Detector) NMS() postprocess.Config { return d.nms }

// Run returns the built run (model, priors, transforms, metrics). Its tensors belong to
// the Detector's thread: use it only for reading its settings.
func (d *Detector) Run() *build.Run { return d.run }

// ErrClosed is returned by Detect after Close.
var ErrClosed = errors.New("detect: the detector is closed")

// Close stops the worker and frees the model. Detect calls in progress finish first; later
// ones return ErrClosed. It may be called more than once.
func (d *Detector) Close() {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		close(d.jobs)
		d.mu.Unlock()
		<-d.done
	})
}

// Detect finds the objects in each image: out[i] holds image i's detections, class by
// class, best first within a class. A nil image is an error naming its position. It
// returns ctx's error if ctx is cancelled before the work is done.
func (d *Detector) Detect(ctx context.Context, images ...image.Image) ([][]Detection, error) {
	out, _, err := d.DetectTimed(ctx, images...)
	return out, err
}

// DetectTimed is Detect that also reports the time spent in each stage.
func (d *Detector) DetectTimed(ctx context.Context, images ...image.Image) ([][]Detection, Timing, error) {
	var timing Timing
	for i, img := range images {
		if img == nil {
			return nil, timing, fmt.Errorf("detect: image %d is nil", i)
		}
		if b := img.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
			return nil, timing, fmt.Errorf("detect: image %d is empty (%dx%d)", i, b.Dx(), b.Dy())
		}
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, timing, ErrClosed
	}
	// Batches are pipelined: while one is in the forward pass, the next is prepared here
	// and waits for the network; a reply is collected once two batches are out.
	out := make([][]Detection, 0, len(images))
	var pending []chan jobResult // replies of the batches sent, oldest first
	collect := func() error {
		r := <-pending[0] // the worker always answers a job it took
		pending = pending[1:]
		if r.err != nil {
			return r.err
		}
		timing.Add(r.timing)
		out = append(out, r.dets...)
		return nil
	}
	for lo := 0; lo < len(images); lo += d.batchSize {
		if err := ctx.Err(); err != nil {
			return nil, timing, err
		}
		batch := images[lo:min(lo+d.batchSize, len(images))]
		pixels, sizes, spent, err := d.prepare(batch)
		timing.Preprocess += spent
		if err != nil {
			return nil, timing, fmt.Errorf("detect: image %d: %w", lo+len(pixels), err)
		}
		reply := make(chan jobResult, 1) // buffered: an abandoned reply does not block the worker
		select {
		case d.jobs <- job{pixels: pixels, sizes: sizes, reply: reply}:
		case <-ctx.Done():
			return nil, timing, ctx.Err()
		}
		if pending = append(pending, reply); len(pending) == 2 {
			if err := collect(); err != nil {
				return nil, timing, err
			}
		}
	}
	for len(pending) > 0 {
		if err := collect(); err != nil {
			return nil, timing, err
		}
	}
	return out, timing, nil
}

// prepare runs the test transform on each image, in parallel, and lays the results out
// channel-first; spent is the time the images took, summed (waits at the gate left out).
// On error, pixels holds the images prepared before the failing one.
func (d *Detector) prepare(images []image.Image) (pixels [][]float32, sizes [][2]int, spent time.Duration, err error) {
	pixels = make([][]float32, len(images))
	sizes = make([][2]int, len(images))
	errs := make([]error, len(images))
	took := make([]time.Duration, len(images))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, img := range images {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			took[i] = d.Beside(func() { pixels[i], sizes[i], errs[i] = d.prepareOne(img) })
		}()
	}
	wg.Wait()
	for _, t := range took {
		spent += t
	}
	for i, e := range errs {
		if e != nil {
			return pixels[:i], sizes[:i], spent, e
		}
	}
	return pixels, sizes, spent, nil
}

// prepareOne is the test transform of one image, laid out channel-first.
func (d *Detector) prepareOne(img image.Image) ([]float32, [2]int, error) {
	b := img.Bounds()
	if in, ok := d.run.ValTransform.(transform.Input8); ok {
		// An 8-bit RGBA image (what internal/jpeg decodes) goes to the resize as it is: the
		// same values as through FromImage and Apply, without the float32 copies. Input8
		// declines when a pixel it reads is not opaque (the float path undoes the alpha).
		if m, ok := img.(*image.RGBA); ok {
			if chw, ok := in.Input8(transform.RGBA8(m), d.planes.Any()); ok && len(chw) == 3*d.size*d.size {
				return chw, [2]int{b.Dx(), b.Dy()}, nil
			}
		}
	}
	s := loader.FromImage("", img, nil)
	// The test transform draws no random numbers; it gets a generator all the same.
	if err := d.run.ValTransform.Apply(s, rng.NewRand(rng.New(0), rng.New(0))); err != nil {
		return nil, [2]int{}, err
	}
	if s.W != d.size || s.H != d.size || len(s.Image) != 3*d.size*d.size {
		return nil, [2]int{}, fmt.Errorf("the test transform made a %dx%d image, the network takes %dx%d", s.W, s.H, d.size, d.size)
	}
	return loader.HWCToCHW(s.Image, s.W*s.H), [2]int{b.Dx(), b.Dy()}, nil
}
