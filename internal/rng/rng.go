// Package rng is the project's one way to make random streams: a seed and a path of ids
// (a sample index, an epoch, a stream constant) name a [Key], and a Key gives a generator,
// either the package's own [SplitMix64] or a math/rand/v2 [rand.Rand] on PCG for the code that
// takes a *rand.Rand (the transforms).
//
// # Stability policy
//
// A stream is a pure function of its seed and ids: the same (seed, ids) give the same
// numbers on every machine, in every process and goroutine, whatever else was drawn before.
// Nearby keys give unrelated streams (every step goes through SplitMix64's finaliser).
//
// The outputs are a compatibility promise. They decide the synthetic datasets, the
// shuffling and every augmentation draw, so changing them changes the data a seed trains
// on. The golden tests of this package pin them, for SplitMix64 and for the PCG-backed
// rand.Rand methods the project uses (whose algorithms belong to Go's standard library: a
// Go release that changed them would fail those tests rather than silently change runs).
// Never change the derivation, the constants or a generator method; add a new function if
// something else is needed.
package rng

import (
	"math"
	"math/rand/v2"
)

// golden is 2⁶⁴/φ, SplitMix64's increment.
const golden = 0x9e3779b97f4a7c15

// steps are the multipliers of the ids, by depth in the key's path (cycling after the last):
// each depth spreads its id differently, so Index(1).Index(2) and Index(2).Index(1) differ.
var steps = [...]uint64{0xd1b54a32d192ed03, 0xabc98388fb8fac03, golden}

// Mix64 is SplitMix64's finaliser: a bijection of uint64 that spreads every input bit over
// the output.
func Mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Key names one random stream: a seed followed by a path of ids. Keys are values; deriving
// a child leaves the parent unchanged.
type Key struct {
	s     uint64
	depth int
}

// New returns the root key of seed.
func New(seed int64) Key { return Key{s: Mix64(uint64(seed) + golden)} }

// Index returns the child key of a 0-based index i (a sample, an epoch, a class).
func (k Key) Index(i int) Key { return k.with(uint64(i) + 1) }

// Stream returns the child key of a stream constant: what is drawn for one purpose (a
// layout, a shuffle) stays independent of what is drawn for another. By convention the
// constants are non-zero and named where they are used. Index(i) and Stream(i+1) are the
// same key: a path's meaning (which depth is the sample, which the stream) is the caller's.
func (k Key) Stream(id uint64) Key { return k.with(id) }

func (k Key) with(v uint64) Key {
	return Key{s: Mix64(k.s ^ v*steps[k.depth%len(steps)]), depth: k.depth + 1}
}

// Uint64 returns the key's 64-bit state, e.g. to seed another generator.
func (k Key) Uint64() uint64 { return k.s }

// SplitMix64 returns the SplitMix64 generator of the stream k.
func (k Key) SplitMix64() *SplitMix64 { return NewSplitMix64(k.s) }

// NewRand returns a math/rand/v2 generator on PCG seeded with (hi, lo)'s states, for code
// that takes a *rand.Rand.
func NewRand(hi, lo Key) *rand.Rand { return rand.New(rand.NewPCG(hi.s, lo.s)) }

// SplitMix64 is Steele, Lea and Flood's SplitMix64 generator with the project's own
// derived draws (Float64, IntN …), defined here rather than taken from math/rand so that
// their outputs stay bit-identical across Go versions. It implements rand.Source.
type SplitMix64 struct{ s uint64 }

// NewSplitMix64 returns the generator whose state is s.
func NewSplitMix64(s uint64) *SplitMix64 { return &SplitMix64{s: s} }

// Uint64 returns the next 64 random bits.
func (r *SplitMix64) Uint64() uint64 {
	r.s += golden
	return Mix64(r.s)
}

// Float64 returns a uniform value in [0, 1).
func (r *SplitMix64) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Uniform returns a uniform value in [a, b).
func (r *SplitMix64) Uniform(a, b float64) float64 { return a + (b-a)*r.Float64() }

// IntN returns an integer in [0, n), uniform up to a modulo bias below n/2⁶³;
// n must be > 0.
func (r *SplitMix64) IntN(n int) int { return int((r.Uint64() >> 1) % uint64(n)) }

// Between returns an integer in [a, b], as IntN; a must be <= b.
func (r *SplitMix64) Between(a, b int) int { return a + r.IntN(b-a+1) }

// Chance reports true with probability p.
func (r *SplitMix64) Chance(p float64) bool { return r.Float64() < p }

// LogUniform returns a value whose logarithm is uniform in [log a, log b); a and b must be > 0.
func (r *SplitMix64) LogUniform(a, b float64) float64 {
	return math.Exp(r.Uniform(math.Log(a), math.Log(b)))
}
