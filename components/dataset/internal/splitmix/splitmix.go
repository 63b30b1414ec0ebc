// Package splitmix is the small SplitMix64 generator of the dataset code (the synthetic
// shapes and open_images' balance_data). It is defined here (rather than taken from
// math/rand) so that the synthetic data stays bit-identical across Go versions.
package splitmix

import "math"

// RNG is a SplitMix64 generator.
type RNG struct{ s uint64 }

// Mix64 is SplitMix64's finaliser.
func Mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// New returns the generator of one stream of sample i of the dataset with the given seed.
func New(seed int64, i int, stream uint64) *RNG {
	s := Mix64(uint64(seed) + 0x9e3779b97f4a7c15)
	s = Mix64(s ^ (uint64(i)+1)*0xd1b54a32d192ed03)
	s = Mix64(s ^ stream*0xabc98388fb8fac03)
	return &RNG{s: s}
}

// FromState returns a generator whose state is s (for tests).
func FromState(s uint64) *RNG { return &RNG{s: s} }

// Next returns the next 64 random bits.
func (r *RNG) Next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return Mix64(r.s)
}

// Float returns a uniform value in [0, 1).
func (r *RNG) Float() float64 { return float64(r.Next()>>11) / (1 << 53) }

// Uniform returns a uniform value in [a, b).
func (r *RNG) Uniform(a, b float64) float64 { return a + (b-a)*r.Float() }

// Intn returns a uniform integer in [0, n); n must be > 0.
func (r *RNG) Intn(n int) int { return int((r.Next() >> 1) % uint64(n)) }

// Between returns a uniform integer in [a, b].
func (r *RNG) Between(a, b int) int { return a + r.Intn(b-a+1) }

// Chance reports true with probability p.
func (r *RNG) Chance(p float64) bool { return r.Float() < p }

// LogUniform returns a value whose logarithm is uniform in [log a, log b).
func (r *RNG) LogUniform(a, b float64) float64 {
	return math.Exp(r.Uniform(math.Log(a), math.Log(b)))
}
