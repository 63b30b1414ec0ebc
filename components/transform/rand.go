package transform

import "math"

// randSource is the part of *rand.Rand the transforms draw from. Tests replace it with a
// scripted stream to replay the reference's draws.
type randSource interface {
	IntN(n int) int
	Float64() float64
}

// chance reports an event of probability p. With p = 0.5 it draws an integer in {0, 1} and
// reports 1, as the reference's `if random.randint(2):`; otherwise it draws a float. p <= 0
// and p >= 1 draw nothing.
func chance(r randSource, p float64) bool {
	switch {
	case p == 0.5:
		return r.IntN(2) == 1
	case p <= 0:
		return false
	case p >= 1:
		return true
	}
	return r.Float64() < p
}

// uniform draws from [lo, hi) as numpy's uniform(lo, hi) does: lo + (hi-lo)*u. lo may be
// larger than hi (the draw is then in (hi, lo]).
func uniform(r randSource, lo, hi float64) float64 {
	return lo + (hi-lo)*r.Float64()
}

// finiteAll reports whether every value is finite.
func finiteAll(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
