package main

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/anchors"
	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/components/loss"
	"github.com/ssdrunner/ssdrunner/components/target"
	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// Shapes shared with reference.py: 32 images of 10 ground truths each, the mobilenet
// priors (3000), 21 classes.
const (
	coreBatch = 32
	coreGT    = 10
)

func coreCases() []benchCase {
	return []benchCase{
		{name: "match + encode, 32 images x 3000 priors", ref: "match", reps: 10, target: "≤ 1.0", ours: timeMatch},
		{name: "MultiBox loss forward+backward, batch 32", ref: "loss", reps: 10, target: "≤ 1.0", ours: timeLoss},
		nmsCase(),
	}
}

func mobilenetPriors() (*ts.Tensor, error) {
	gen, err := anchors.Build(registry.Ref{Type: "ssd_spec", Options: map[string]any{"preset": "mobilenet"}})
	if err != nil {
		return nil, err
	}
	return gen.Priors()
}

// mobilenetMatcher matches against the mobilenet priors with the reference's settings
// (IoU 0.5, variances 0.1/0.2). The matcher keeps its own copy of the priors.
func mobilenetMatcher() (*target.Matcher, error) {
	priors, err := mobilenetPriors()
	if err != nil {
		return nil, err
	}
	defer priors.MustDrop()
	return target.NewMatcher(priors, 0.5, boxes.DefaultVariances)
}

// randomBoxes returns n corner-form boxes inside the unit square.
func randomBoxes(s *torch.Scope, n int64) *ts.Tensor {
	xy := s.T(ts.MustRand([]int64{n, 2}, gotch.Float, gotch.CPU))
	xy = s.T(torch.MulScalar(xy, 0.7))
	wh := s.T(ts.MustRand([]int64{n, 2}, gotch.Float, gotch.CPU))
	wh = s.T(torch.AddScalar(s.T(torch.MulScalar(wh, 0.28)), 0.02))
	return s.T(ts.MustCat([]ts.Tensor{*xy, *s.T(xy.MustAdd(wh, false))}, 1))
}

func timeMatch(reps int) (measured, error) {
	m, err := mobilenetMatcher()
	if err != nil {
		return measured{}, err
	}
	defer m.Close()
	s := torch.NewScope()
	defer s.Close()
	var gts, labels []*ts.Tensor
	for i := 0; i < coreBatch; i++ {
		gts = append(gts, randomBoxes(s, coreGT))
		labels = append(labels, s.T(ts.MustRandintLow(1, 21, []int64{coreGT}, gotch.Int64, gotch.CPU)))
	}
	return timeReps(reps, func() error {
		for i := range gts {
			loc, lab, err := m.Match(gts[i], labels[i])
			if err != nil {
				return err
			}
			loc.MustDrop()
			lab.MustDrop()
		}
		return nil
	})
}

func timeLoss(reps int) (measured, error) {
	m, err := mobilenetMatcher()
	if err != nil {
		return measured{}, err
	}
	defer m.Close()
	s := torch.NewScope()
	defer s.Close()
	var locs, labs []ts.Tensor
	for i := 0; i < coreBatch; i++ {
		loc, lab, err := m.Match(randomBoxes(s, coreGT), s.T(ts.MustRandintLow(1, 21, []int64{coreGT}, gotch.Int64, gotch.CPU)))
		if err != nil {
			return measured{}, err
		}
		s.Ts(loc, lab)
		locs, labs = append(locs, *loc), append(labs, *lab)
	}
	gtLoc := s.T(ts.MustStack(locs, 0))
	labels := s.T(ts.MustStack(labs, 0))
	conf := s.T(ts.MustRandn([]int64{coreBatch, 3000, 21}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
	loc := s.T(ts.MustRandn([]int64{coreBatch, 3000, 4}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
	l, err := loss.Build(registry.Ref{Type: "multibox"})
	if err != nil {
		return measured{}, err
	}
	return timeReps(reps, func() error {
		for _, t := range []*ts.Tensor{conf, loc} {
			if err := torch.ClearGrad(t); err != nil { // reference.py: conf.grad = None
				return err
			}
		}
		reg, cls, err := l.Forward(conf, loc, labels, gtLoc)
		if err != nil {
			return err
		}
		st := torch.NewScope()
		defer st.Close()
		st.Ts(reg, cls)
		st.T(reg.MustAdd(cls, false)).MustBackward()
		return nil
	})
}
