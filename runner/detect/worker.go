package detect

import (
	"fmt"
	"time"

	"github.com/ssdrunner/ssdrunner/components/postprocess"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// runBatch is the libtorch part of a batch, on the worker's thread: the forward pass, the
// box decoding and the NMS, with each stage timed.
func (d *Detector) runBatch(pixels [][]float32, sizes [][2]int) (out [][]Detection, timing Timing, err error) {
	defer torch.Recover(&err)
	timing.Images = len(pixels)
	err = torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		start := time.Now()
		n, sz := int64(len(pixels)), int64(d.size)
		x, err := torch.FromSlices([]int64{n, 3, sz, sz}, pixels...)
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
		t1 := time.Now()
		timing.Forward = t1.Sub(start)
		dec, err := postprocess.Decode(conf, loc, d.run.Priors, d.run.Variances)
		if err != nil {
			return err
		}
		defer dec.Close()
		t2 := time.Now()
		timing.DecodeBoxes = t2.Sub(t1)
		res, err := dec.Select(d.nms)
		if err != nil {
			return err
		}
		out = d.toDetections(res, sizes)
		timing.NMS = time.Since(t2)
		return nil
	})
	if err != nil {
		return nil, timing, fmt.Errorf("detect: %w", err)
	}
	return out, timing, nil
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
