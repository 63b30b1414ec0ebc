package detect

import (
	"fmt"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// The libtorch work of a batch runs on the worker, a goroutine locked to its OS thread:
// the forward pass, then the box decoding and the NMS. How the two are arranged depends
// on the gate:
//
//   - When the forward pass's threads take every core (the gate is exclusive), the
//     worker post-processes each batch itself right after its forward pass
//     (forwardThenPost), beside the preparation of the next batch: nothing can run
//     beside the forward pass, so a second stage would only add a hand-over, and with
//     one the next forward pass could start before the last batch's post-processing,
//     which then ran in the following gap beside another one's (two in one gap, on one
//     thread, while the other core waited).
//   - Otherwise a second stage (postStage, on its own locked thread) post-processes a
//     batch while the worker runs the next one's forward pass on the cores left free.

// forwardThenPost runs the forward pass of a batch and then its post-processing, and
// answers its job (the worker's loop when the gate is exclusive). forwardStage ends the
// thread's OpenMP team after the forward pass (torch.PauseTeam), still inside the gate:
// libgomp's worker threads spin for a long while after each parallel region (about
// 300,000 rounds), and the one left spinning after a forward pass held one of the two
// cores that the work between forward passes (this post-processing, the next images'
// decoding and preparation) needs; the next forward pass starts a new team. Measured
// with mb2-ssd-lite at 2 threads on 2 cores, batch 1: the forward pass took as long
// (medians of 150 images, alternating with and without the pause: 17.9 against 17.9 ms,
// 19.5 against 20.4, 17.0 against 17.0), and runner predict's time between forward passes
// fell from 4.4-4.5 ms to 2.8-3.0 with this order and a third batch in flight (README,
// Speed).
func (d *Detector) forwardThenPost(j job) {
	f, ok := d.forwardStage(j) // which ends the team
	if !ok {
		return
	}
	// The post-processing's small ops at one thread: a parallel one would start a team.
	torch.SetLocalThreads(1)
	dets, err := d.postprocess(&f)
	torch.SetLocalThreads(d.threads)
	f.reply <- jobResult{dets: dets, timing: f.timing, err: err}
}

// forwarded is a batch between the stages: the network's outputs, owned by the post stage
// once sent.
type forwarded struct {
	conf, loc *ts.Tensor
	sizes     [][2]int
	timing    Timing
	reply     chan jobResult
}

// forwardStage runs the network on one batch and returns its outputs; on error it answers
// the job itself and reports false.
func (d *Detector) forwardStage(j job) (forwarded, bool) {
	f := forwarded{sizes: j.sizes, reply: j.reply}
	f.timing.Images = len(j.pixels)
	err := func() (err error) {
		defer torch.Recover(&err)
		return torch.NoGrad(func() (err error) {
			d.gate.forward(func() {
				err = d.forward(j, &f)
				if d.gate.exclusive {
					// Inside the gate: once the work beside the forward pass starts, the
					// spinning thread that must answer the pause may be off its core.
					torch.PauseTeam()
				}
			})
			return err
		})
	}()
	if err != nil {
		j.reply <- jobResult{timing: f.timing, err: fmt.Errorf("detect: %w", err)}
		return forwarded{}, false
	}
	return f, true
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
	for _, p := range j.pixels { // x holds a copy
		d.planes.Put(p)
	}
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
// until post is closed; it then closes done. It runs only when the gate is not exclusive,
// beside the forward pass.
func (d *Detector) postStage(post <-chan forwarded, done chan<- struct{}) {
	// The post-processing works on small tensors beside the forward pass: one OpenMP
	// thread here, so that its parallel ops do not start a second team.
	torch.LockHelperThread()
	defer close(done)
	for f := range post {
		dets, err := d.postprocess(&f)
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
