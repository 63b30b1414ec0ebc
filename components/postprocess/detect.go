package postprocess

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Detect turns raw SSD outputs into detections, image by image, as the reference's
// Predictor.predict does with the outputs of its net in test mode: class probabilities
// are the softmax of the logits, boxes are the locations decoded against the priors
// (centre form, then corner form), and for each class 1..C-1 in turn, the probabilities
// > cfg.ScoreThreshold become candidates for that class's NMS (hard NMS: the
// cfg.CandidateSize best, then NMS; soft NMS: all of them), which keeps at most
// cfg.TopK boxes (when > 0). Detections come class by class, each class's in the order
// its NMS keeps them (best first), as in the reference.
//
// With cfg.ClassAgnostic, the candidates of all classes (for both methods, each class's
// cfg.CandidateSize best) go through one NMS, in which boxes of different classes
// suppress each other and cfg.TopK applies to the image; equal scores are then ordered
// by libtorch's sort of the candidates taken class by class, best first within a class.
//
// conf are logits [B, P, C] (C >= 2, class 0 the background), loc box offsets [B, P, 4],
// priors [P, 4] in centre form, all float32 on the CPU and finite. Boxes are relative to
// the image, as the priors; the reference multiplies them by the image size afterwards.
func Detect(conf, loc, priors *ts.Tensor, v box.Variances, cfg Config) (_ []Detections, err error) {
	defer torch.Recover(&err)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := Decode(conf, loc, priors, v)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Select(cfg)
}

// Decoded is the first half of Detect, before the NMS: the class probabilities and the
// decoded boxes of a batch. Close frees them.
type Decoded struct {
	Probs  *ts.Tensor // [B, P, C] softmax of the logits
	Corner *ts.Tensor // [B, P, 4] corner-form boxes, relative to the image
}

// Close frees the tensors; it may be called more than once.
func (d *Decoded) Close() {
	for _, t := range []**ts.Tensor{&d.Probs, &d.Corner} {
		if *t != nil {
			(*t).MustDrop()
			*t = nil
		}
	}
}

// Decode checks Detect's inputs and computes the class probabilities and the corner-form
// boxes (Detect without the NMS; Select finishes it). The caller closes the result.
func Decode(conf, loc, priors *ts.Tensor, v box.Variances) (_ *Decoded, err error) {
	defer torch.Recover(&err)
	if _, err := checkDetect(conf, loc, priors); err != nil {
		return nil, err
	}
	d := &Decoded{}
	err = torch.NoGrad(func() error {
		d.Probs = conf.MustSoftmax(2, gotch.Float, false)
		center, err := box.Decode(loc, priors, v)
		if err != nil {
			return fmt.Errorf("postprocess: %w", err)
		}
		defer center.MustDrop()
		if d.Corner, err = box.CenterToCorner(center); err != nil {
			return fmt.Errorf("postprocess: %w", err)
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Select runs the NMS of every image of d as cfg says (Detect's second half).
func (d *Decoded) Select(cfg Config) (_ []Detections, err error) {
	defer torch.Recover(&err)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := make([]Detections, d.Probs.MustSize()[0])
	err = torch.NoGrad(func() error {
		for i := range out {
			det, err := detectImage(d.Probs, d.Corner, i, cfg)
			if err != nil {
				return fmt.Errorf("postprocess: image %d: %w", i, err)
			}
			out[i] = det
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// detectImage runs the per-class (or class-agnostic) NMS of image i of probs [B, P, C]
// and corner-form boxes [B, P, 4].
func detectImage(probsAll, cornerAll *ts.Tensor, i int, cfg Config) (Detections, error) {
	s := torch.NewScope()
	defer s.Close()
	probs := s.T(probsAll.MustSelect(0, int64(i), false))
	corner := s.T(cornerAll.MustSelect(0, int64(i), false))
	sel, err := selectCandidates(s, probs, cfg.ScoreThreshold)
	if err != nil {
		return Detections{}, err
	}
	coords, err := float32Values(corner)
	if err != nil {
		return Detections{}, err
	}
	r := imageRun{s: s, sel: sel, corner: corner, coords: coords, cfg: cfg}
	if cfg.ClassAgnostic {
		return r.agnostic()
	}
	return r.perClass()
}

// checkDetect validates Detect's tensors and returns the batch size.
func checkDetect(conf, loc, priors *ts.Tensor) (int, error) {
	for _, in := range []struct {
		name string
		t    *ts.Tensor
	}{{"conf", conf}, {"loc", loc}, {"priors", priors}} {
		if in.t == nil {
			return 0, fmt.Errorf("postprocess: %s: nil tensor", in.name)
		}
		if err := checkFloat(in.name, in.t); err != nil {
			return 0, err
		}
		if err := checkCPU(in.name, in.t); err != nil {
			return 0, err
		}
	}
	cs, ls, ps := conf.MustSize(), loc.MustSize(), priors.MustSize()
	if len(cs) != 3 {
		return 0, fmt.Errorf("postprocess: conf has shape %v, want [B, P, C]", cs)
	}
	if cs[2] < 2 {
		return 0, fmt.Errorf("postprocess: conf has shape %v: need at least 2 classes (background and one object class)", cs)
	}
	if len(ls) != 3 || ls[0] != cs[0] || ls[1] != cs[1] || ls[2] != 4 {
		return 0, fmt.Errorf("postprocess: loc has shape %v, want [%d, %d, 4] to match conf %v", ls, cs[0], cs[1], cs)
	}
	if len(ps) != 2 || ps[0] != cs[1] || ps[1] != 4 {
		return 0, fmt.Errorf("postprocess: priors have shape %v, want [%d, 4] to match conf %v", ps, cs[1], cs)
	}
	for _, in := range []struct {
		name string
		t    *ts.Tensor
	}{{"conf", conf}, {"loc", loc}} {
		if err := checkFinite(in.name, in.t); err != nil {
			return 0, err
		}
	}
	if bad, err := countNonFinite(priors); err != nil || bad > 0 {
		if err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("postprocess: priors: %d values are NaN or infinite", bad)
	}
	return int(cs[0]), nil
}

// checkFinite reports the first image of t [B, ...] with a NaN or infinite value.
func checkFinite(name string, t *ts.Tensor) error {
	if ok, err := allFinite(t); err != nil || ok {
		return err
	}
	s := torch.NewScope()
	defer s.Close()
	bad := s.T(s.T(t.MustIsfinite(false)).MustLogicalNot(false))
	perImage, err := int64Values(s.T(bad.MustSumDimIntlist([]int64{1, 2}, false, gotch.Int64, false)))
	if err != nil {
		return err
	}
	for i, n := range perImage {
		if n > 0 {
			return fmt.Errorf("postprocess: %s: image %d has %d NaN or infinite values", name, i, n)
		}
	}
	return nil
}

// countNonFinite returns the number of NaN or infinite values of t.
func countNonFinite(t *ts.Tensor) (int64, error) {
	if ok, err := allFinite(t); err != nil || ok {
		return 0, err
	}
	s := torch.NewScope()
	defer s.Close()
	bad := s.T(s.T(t.MustIsfinite(false)).MustLogicalNot(false))
	v, err := int64Values(s.T(bad.MustSum(gotch.Int64, false)))
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// allFinite reports whether every value of the float32 tensor t is finite, with one
// reduction: the sum of its values in float64 is finite exactly when they all are (a
// NaN or an infinity makes it NaN or infinite, and finite float32 values, each below
// 2^128, cannot reach float64's 2^1024 in fewer than 2^896 terms). The checks above
// count the bad values only when there are some (isfinite, not and a count take several
// times as long, on every batch).
func allFinite(t *ts.Tensor) (bool, error) {
	s := torch.NewScope()
	defer s.Close()
	v, err := float64Values(s.T(t.MustSum(gotch.Double, false)))
	if err != nil {
		return false, err
	}
	return !math.IsNaN(v[0]) && !math.IsInf(v[0], 0), nil
}
