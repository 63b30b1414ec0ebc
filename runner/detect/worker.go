package detect

import (
	"fmt"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// The libtorch work of a batch runs in two stages, each on its own goroutine locked to its
// OS thread: the forward pass (forwardStage, the worker), then the box decoding and the NMS
// (postStage). A batch's post-processing thus runs beside the next batch's preparation
// (and, with a core to spare, its forward pass: see gate) when callers keep more than one
// batch in flight (as runner predict does); with one caller at a time it costs one
// channel hand-over.

// forwarded is a batch between the stages: the network's outputs, owned by the post stage
// once sent.
type forwarded struct {
	conf, loc *ts.Tensor
	sizes     [][2]int
	timing    Timing
	reply     chan jobResult
}

// forwardStage runs the network on one batch and hands its outputs to the post stage; on
// error it answers the job itself.
func (d *Detector) forwardStage(j job, post chan<- forwarded) {
	f := forwarded{sizes: j.sizes, reply: j.reply}
	f.timing.Images = len(j.pixels)
	err := func() (err error) {
		defer torch.Recover(&err)
		return torch.NoGrad(func() (err error) {
			d.gate.forward(func() { err = d.forward(j, &f) })
			return err
		})
	}()
	if err != nil {
		j.reply <- jobResult{timing: f.timing, err: fmt.Errorf("detect: %w", err)}
		return
	}
	post <- f
}

// forward is the forward pass of a batch: on success, f holds the network's outputs and
// their time.
func (d *Detector) forward(j job, f *forwarded) error {
	s := torch.NewScope()
	defer s.Close()
	start := time.Now()
	n, sz := int64(len(j.pixels)), int64(d.size)
	x, err := torch.FromSlices([]int64{n, 3, sz, sz}, j.pixels...)
	if err != nil {
		return err
	}
	s.T(x)
	if dev := d.run.Device; dev != d.run.Priors.MustDevice() {
		x = s.T(x.MustTo(dev, false))
	}
	conf, loc, err := d.run.Model.Forward(x, false)
	if err != nil {
		return err
	}
	s.Ts(conf, loc)
	if dev := d.run.Priors.MustDevice(); conf.MustDevice() != dev {
		conf, loc = s.T(conf.MustTo(dev, false)), s.T(loc.MustTo(dev, false))
	}
	_ = conf.MustSize() // wait for the forward pass (a device may run asynchronously)
	f.timing.Forward = time.Since(start)
	f.conf, f.loc = s.Keep(conf), s.Keep(loc)
	return nil
}

// postStage decodes and selects the boxes of each forwarded batch and answers its job,
// until post is closed; it then closes done.
func (d *Detector) postStage(post <-chan forwarded, done chan<- struct{}) {
	// The post-processing works on small tensors beside the forward pass: one OpenMP
	// thread here, so that its parallel ops do not start a second team.
	torch.LockHelperThread()
	defer close(done)
	for f := range post {
		var dets [][]Detection
		var err error
		d.gate.beside(func() { dets, err = d.postprocess(&f) })
		f.reply <- jobResult{dets: dets, timing: f.timing, err: err}
	}
}

// postprocess is the box decoding and NMS of a forwarded batch, timed; it frees the
// batch's tensors.
func (d *Detector) postprocess(f *forwarded) (out [][]Detection, err error) {
	defer func() {
		f.conf.MustDrop()
		f.loc.MustDrop()
	}()
	defer torch.Recover(&err)
	err = torch.NoGrad(func() error {
		t1 := time.Now()
		dec, err := postprocess.Decode(f.conf, f.loc, d.run.Priors, d.run.Variances)
		if err != nil {
			return err
		}
		defer dec.Close()
		t2 := time.Now()
		f.timing.DecodeBoxes = t2.Sub(t1)
		res, err := dec.Select(d.nms)
		if err != nil {
			return err
		}
		out = d.toDetections(res, f.sizes)
		f.timing.NMS = time.Since(t2)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	return out, nil
}

// toDetections scales relative boxes to each image's pixels, as the reference's
// Predictor does (x by the width, y by the height).
func (d *Detector) toDetections(res []postprocess.Detections, sizes [][2]int) [][]Detection {
	out := make([][]Detection, len(res))
	for i, r := range res {
		w, h := float64(sizes[i][0]), float64(sizes[i][1])
		dets := make([]Detection, r.Len())
		for j := range dets {
			b := r.Boxes[j]
			name := ""
			if r.Labels[j] < len(d.classes) {
				name = d.classes[r.Labels[j]]
			}
			dets[j] = Detection{Box: [4]float64{float64(b[0]) * w, float64(b[1]) * h, float64(b[2]) * w, float64(b[3]) * h},
				Label: r.Labels[j], Class: name, Score: float64(r.Scores[j])}
		}
		out[i] = dets
	}
	return out
}
