package torch

import "github.com/sugarme/gotch/ts"

// AddScalar returns t + v as a new tensor (the caller owns it). gotch's scalars live in C
// memory and leak unless dropped; these helpers drop theirs.
func AddScalar(t *ts.Tensor, v float64) *ts.Tensor {
	sc := ts.FloatScalar(v)
	defer sc.MustDrop()
	return t.MustAddScalar(sc, false)
}

// MulScalar returns t * v as a new tensor (the caller owns it).
func MulScalar(t *ts.Tensor, v float64) *ts.Tensor {
	sc := ts.FloatScalar(v)
	defer sc.MustDrop()
	return t.MustMulScalar(sc, false)
}

// DivScalar returns t / v as a new tensor (the caller owns it).
func DivScalar(t *ts.Tensor, v float64) *ts.Tensor {
	sc := ts.FloatScalar(v)
	defer sc.MustDrop()
	return t.MustDivScalar(sc, false)
}
