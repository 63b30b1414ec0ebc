// Package eval evaluates a detector on an annotated dataset as the reference's eval_ssd.py
// does: every image through the test transform (resize, normalise), the network in
// evaluation mode, the post-processing of the experiment's evaluation.nms, detections
// scaled back to the original image's pixels, and every configured metric against all
// the annotated objects (difficult ones flagged, neither required nor penalised).
//
// `runner eval` (Evaluate, then Write for the result folder) and the validation of
// `runner apply` (Detections, GroundTruths and Score, batch by batch) share this code.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/rs/zerolog"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/metric"
	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/runner/build"
	"github.com/ssdrunner/ssdrunner/runner/loader"
)

// Options tune Evaluate.
type Options struct {
	// BatchSize is the number of images per forward pass (default: the experiment's
	// data.batch_size).
	BatchSize int
	// Workers decode and transform images in parallel (default: the experiment's
	// data.workers; 0 there is one per core).
	Workers int
	// SkipBad skips unreadable images (logged and listed in Result.Skipped) instead of
	// failing on the first one.
	SkipBad bool
	// Log receives a warning per skipped image.
	Log zerolog.Logger
	// Progress, when set, is called after every batch with the images done and the total.
	Progress func(done, total int)
}

// MetricResult is one configured metric's result.
type MetricResult struct {
	Name   string
	Result metric.Result
}

// Result is what Evaluate found.
type Result struct {
	// IDs are the evaluated images' ids, in dataset order.
	IDs []string
	// GroundTruths and Detections are the inputs of the metrics: pixels of the original
	// images, corner form; detections image by image in dataset order, within an image
	// in the post-processing's order (class by class, best first).
	GroundTruths []metric.GroundTruth
	Detections   []metric.Detection
	// Metrics holds every configured metric's result, in the experiment's order (the
	// first is the headline).
	Metrics []MetricResult
	// Skipped lists the ids of the images skipped as unreadable (with Options.SkipBad).
	Skipped []string
	// Seconds is the wall time of the whole evaluation.
	Seconds float64
}

// Evaluate runs run's model over ds and scores its detections with run's metrics. It
// stops promptly when ctx is cancelled, returning ctx's error. The libtorch work runs on
// the calling goroutine, locked to its OS thread for the duration.
func Evaluate(ctx context.Context, run *build.Run, ds dataset.Dataset, opts Options) (*Result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if run.Model == nil || run.ValTransform == nil || run.Matcher == nil {
		return nil, errors.New("eval: the run has no model or test transform (build it with a model and anchors)")
	}
	start := time.Now()
	e := run.Experiment
	if opts.BatchSize <= 0 {
		opts.BatchSize = e.Data.BatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = e.Data.Workers
	}
	cfg := loader.Config{BatchSize: opts.BatchSize, Workers: opts.Workers, Prefetch: max(e.Data.Prefetch, 2),
		Seed: e.Training.Seed, SkipBad: opts.SkipBad, ImageSize: run.ImageSize}
	l, err := loader.New(ds, run.ValTransform, run.Matcher, cfg, opts.Log)
	if err != nil {
		return nil, err
	}
	it := l.Epoch(ctx, 0)
	defer it.Close()
	res := &Result{}
	total := ds.Len()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		dets, err := ForwardBatch(run, b)
		if err == nil {
			res.GroundTruths, err = GroundTruths(res.GroundTruths, ds, b.Indices, b.IDs)
		}
		b.Close()
		if err != nil {
			return nil, err
		}
		res.IDs = append(res.IDs, b.IDs...)
		res.Detections = append(res.Detections, dets...)
		if opts.Progress != nil {
			opts.Progress(len(res.IDs)+len(l.Stats().SkippedIDs), total)
		}
	}
	res.Skipped = l.Stats().SkippedIDs
	if res.Metrics, err = Score(run, res.GroundTruths, res.Detections); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// ForwardBatch runs the network in evaluation mode, without gradients, on a batch of
// test-transformed images and returns its detections in the original images' pixels.
func ForwardBatch(run *build.Run, b *loader.Batch) (dets []metric.Detection, err error) {
	err = torch.NoGrad(func() (err error) {
		defer torch.Recover(&err)
		s := torch.NewScope()
		defer s.Close()
		images := b.Images
		if run.Device != run.Priors.MustDevice() {
			images = s.T(images.MustTo(run.Device, false))
		}
		conf, loc, err := run.Model.Forward(images, false)
		if err != nil {
			return err
		}
		s.Ts(conf, loc)
		dets, err = Detections(run, conf, loc, b.IDs, b.Sizes)
		return err
	})
	return dets, err
}

// Detections post-processes a batch's raw outputs (conf logits [B,P,C], loc offsets
// [B,P,4]) with run's evaluation.nms and scales the boxes to each image's original size
// (width, height), as the reference's Predictor does.
func Detections(run *build.Run, conf, loc *ts.Tensor, ids []string, sizes [][2]int) (dets []metric.Detection, err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	if dev := run.Priors.MustDevice(); conf.MustDevice() != dev {
		conf = s.T(conf.MustTo(dev, false))
		loc = s.T(loc.MustTo(dev, false))
	}
	out, err := postprocess.Detect(conf, loc, run.Priors, run.Variances, run.NMS)
	if err != nil {
		return nil, err
	}
	for i, d := range out {
		w, h := float64(sizes[i][0]), float64(sizes[i][1])
		for j := range d.Scores {
			bx := d.Boxes[j]
			dets = append(dets, metric.Detection{ImageID: ids[i], Label: d.Labels[j], Score: float64(d.Scores[j]),
				Box: [4]float64{float64(bx[0]) * w, float64(bx[1]) * h, float64(bx[2]) * w, float64(bx[3]) * h}})
		}
	}
	return dets, nil
}

// GroundTruths appends the annotated objects of the dataset's images at indices (every
// object of a known class, difficult ones flagged), under the given ids.
func GroundTruths(gts []metric.GroundTruth, ds dataset.Dataset, indices []int, ids []string) ([]metric.GroundTruth, error) {
	for i, idx := range indices {
		_, objs, err := ds.Annotation(idx)
		if err != nil {
			return gts, err
		}
		g := metric.GroundTruth{ImageID: ids[i]}
		for _, o := range objs {
			g.Boxes = append(g.Boxes, o.Box)
			g.Labels = append(g.Labels, o.Label)
			g.Difficult = append(g.Difficult, o.Difficult)
		}
		gts = append(gts, g)
	}
	return gts, nil
}

// Score runs every metric of run over the ground truths and detections. The "voc" metric
// gets the detections in eval_ssd.py's ranking order (ReferenceOrder), so that its AP
// equals eval_ssd.py's even where detections of equal score tie.
func Score(run *build.Run, gts []metric.GroundTruth, dets []metric.Detection) ([]MetricResult, error) {
	out := make([]MetricResult, 0, len(run.Metrics))
	var ranked []metric.Detection
	for _, m := range run.Metrics {
		in := dets
		if m.Ref.Type == "voc" {
			if ranked == nil {
				ranked = ReferenceOrder(dets)
			}
			in = ranked
		}
		r, err := m.Metric.Evaluate(run.Classes, gts, in)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		out = append(out, MetricResult{Name: m.Name, Result: r})
	}
	return out, nil
}
