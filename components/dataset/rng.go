package dataset

import "math"

// rng is a small SplitMix64 generator. It is defined here (rather than taken from math/rand)
// so that the synthetic data stays bit-identical across Go versions.
type rng struct{ s uint64 }

// Streams of one synthetic image: what is drawn where (and so the boxes) is independent of
// how it is coloured, so annotations can be produced without painting.
const (
	streamLayout uint64 = iota + 1
	streamPaint
)

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// newRNG returns the generator of one stream of sample i of the dataset with the given seed.
func newRNG(seed int64, i int, stream uint64) *rng {
	s := mix64(uint64(seed) + 0x9e3779b97f4a7c15)
	s = mix64(s ^ (uint64(i)+1)*0xd1b54a32d192ed03)
	s = mix64(s ^ stream*0xabc98388fb8fac03)
	return &rng{s: s}
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// uniform returns a uniform value in [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// intn returns a uniform integer in [0, n); n must be > 0.
func (r *rng) intn(n int) int { return int((r.next() >> 1) % uint64(n)) }

// between returns a uniform integer in [a, b].
func (r *rng) between(a, b int) int { return a + r.intn(b-a+1) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// logUniform returns a value whose logarithm is uniform in [log a, log b).
func (r *rng) logUniform(a, b float64) float64 {
	return math.Exp(r.uniform(math.Log(a), math.Log(b)))
}
