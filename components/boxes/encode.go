package boxes

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Encode turns center-form boxes [..., P, 4] into regression targets relative to
// center-form priors (the reference's convert_boxes_to_locations):
//
//	((cx-pcx)/pw/v.Center, (cy-pcy)/ph/v.Center, log(w/pw)/v.Size, log(h/ph)/v.Size)
//
// priors may have one dimension less than boxes (e.g. [P, 4] for a batch [B, P, 4]) or
// broadcast against them.
func Encode(boxes, priors *ts.Tensor, v Variances) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	p, err := alignPriors(s, "boxes", boxes, priors, v)
	if err != nil {
		return nil, err
	}
	bxy, bwh := split(s, boxes)
	pxy, pwh := split(s, p)
	d := s.T(bxy.MustSub(pxy, false))
	center := s.T(torch.DivScalar(s.T(d.MustDiv(pwh, false)), v.Center))
	ratio := s.T(bwh.MustDiv(pwh, false))
	size := s.T(torch.DivScalar(s.T(ratio.MustLog(false)), v.Size))
	return ts.MustCat([]ts.Tensor{*center, *size}, -1), nil
}

// Decode turns regression outputs [..., P, 4] back into center-form boxes relative to
// center-form priors (the reference's convert_locations_to_boxes), the inverse of Encode.
func Decode(locations, priors *ts.Tensor, v Variances) (_ *ts.Tensor, err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	p, err := alignPriors(s, "locations", locations, priors, v)
	if err != nil {
		return nil, err
	}
	lxy, lwh := split(s, locations)
	pxy, pwh := split(s, p)
	scaled := s.T(torch.MulScalar(lxy, v.Center))
	center := s.T(s.T(scaled.MustMul(pwh, false)).MustAdd(pxy, false))
	grow := s.T(s.T(torch.MulScalar(lwh, v.Size)).MustExp(false))
	size := s.T(grow.MustMul(pwh, false))
	return ts.MustCat([]ts.Tensor{*center, *size}, -1), nil
}

// alignPriors checks the inputs and returns priors with a leading dimension added when
// they have one dimension less than x (registered with s when new).
func alignPriors(s *torch.Scope, name string, x, priors *ts.Tensor, v Variances) (*ts.Tensor, error) {
	if err := checkBoxes(name, x); err != nil {
		return nil, err
	}
	if err := checkBoxes("priors", priors); err != nil {
		return nil, err
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	if priors.Dim()+1 == x.Dim() {
		priors = s.T(priors.MustUnsqueeze(0, false))
	}
	xs, ps := x.MustSize(), priors.MustSize()
	if len(xs) != len(ps) {
		return nil, fmt.Errorf("%s %v and priors %v: priors need the same number of dimensions or one less", name, xs, ps)
	}
	if err := checkBroadcast(xs, ps); err != nil {
		return nil, fmt.Errorf("%s and priors: %w", name, err)
	}
	return priors, nil
}
