package anchors

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// tiling is one feature map's share of the priors: the centres of row/column i are
// (i+0.5)/centerDiv, and every location gets the boxes wh (width, height), in order.
type tiling struct {
	size      int
	shrinkage float64 // reported in FeatureMap; not used for the centres
	centerDiv float64
	wh        [][2]float64
}

func (t tiling) featureMap() FeatureMap {
	return FeatureMap{Size: t.size, Shrinkage: t.shrinkage, BoxesPerLocation: len(t.wh),
		Count: t.size * t.size * len(t.wh)}
}

func featureMaps(tilings []tiling) []FeatureMap {
	out := make([]FeatureMap, len(tilings))
	for i, t := range tilings {
		out[i] = t.featureMap()
	}
	return out
}

// tilePriors computes the priors of all tilings as a new [N,4] tensor of dtype (cx, cy,
// w, h): per tiling, centres from arange, crossed like meshgrid(indexing="ij") through
// broadcasting, each location followed by its boxes. The arithmetic runs in dtype, so
// callers pick the precision of the implementation they mirror. The caller owns the result.
func tilePriors(tilings []tiling, dtype gotch.DType) (*ts.Tensor, error) {
	if len(tilings) == 0 {
		return nil, fmt.Errorf("no feature maps to tile")
	}
	s := torch.NewScope()
	defer s.Close()
	parts := make([]ts.Tensor, 0, len(tilings))
	for _, t := range tilings {
		if t.size <= 0 || len(t.wh) == 0 || !(t.centerDiv > 0) || math.IsInf(t.centerDiv, 0) {
			return nil, fmt.Errorf("invalid feature map tiling (size %d, %d boxes, divisor %g)", t.size, len(t.wh), t.centerDiv)
		}
		f, b := int64(t.size), int64(len(t.wh))
		idx := s.T(arange(f, dtype))
		half := s.T(torch.AddScalar(idx, 0.5))
		c := s.T(torch.DivScalar(half, t.centerDiv))                                             // [f]
		cy := s.T(s.T(c.MustView([]int64{f, 1}, false)).MustExpand([]int64{f, f}, false, false)) // rows
		cx := s.T(s.T(c.MustView([]int64{1, f}, false)).MustExpand([]int64{f, f}, false, false)) // columns
		centers := s.T(ts.MustStack([]ts.Tensor{*cx, *cy}, 2))                                   // [f,f,2]
		centers = s.T(centers.MustView([]int64{f * f, 1, 2}, false))
		centers = s.T(centers.MustExpand([]int64{f * f, b, 2}, false, false))

		flat := make([]float64, 0, 2*len(t.wh))
		for _, p := range t.wh {
			flat = append(flat, p[0], p[1])
		}
		wh := s.T(ts.MustOfSlice(flat)) // float64: the values are exact before the cast
		wh = s.T(wh.MustTotype(dtype, false))
		wh = s.T(wh.MustView([]int64{1, b, 2}, false))
		wh = s.T(wh.MustExpand([]int64{f * f, b, 2}, false, false))

		boxes := s.T(ts.MustCat([]ts.Tensor{*centers, *wh}, 2)) // [f*f, b, 4]
		parts = append(parts, *s.T(boxes.MustView([]int64{f * f * b, 4}, false)))
	}
	return s.Keep(ts.MustCat(parts, 0)), nil
}

// arange returns [0, 1, …, n-1] of dtype.
func arange(n int64, dtype gotch.DType) *ts.Tensor {
	end := ts.IntScalar(n)
	defer end.MustDrop()
	return ts.MustArange(end, dtype, gotch.CPU)
}

// clamp01 returns t clamped to [0, 1].
func clamp01(t *ts.Tensor) *ts.Tensor {
	lo, hi := ts.FloatScalar(0), ts.FloatScalar(1)
	defer lo.MustDrop()
	defer hi.MustDrop()
	return t.MustClamp(lo, hi, false)
}
