package rng

// NumpyRandomState reproduces the draws of NumPy's legacy numpy.random.RandomState (the
// global generator behind np.random.seed and pandas' DataFrame.sample without a
// random_state) for the methods the project needs, so that a selection the reference makes
// under np.random.seed(s) can be made here, row for row, from the same s.
//
// The generator is the 32-bit Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998),
// seeded as NumPy's legacy seeding does with an integer (the classic init_genrand
// recurrence); Permutation is NumPy's legacy shuffle: a Fisher–Yates pass from the end
// whose index draws mask the generator's output to the bit length of the bound and redraw
// values above it. The golden tests pin the outputs against NumPy's.
type NumpyRandomState struct {
	mt  [mtN]uint32
	pos int
}

const (
	mtN      = 624
	mtM      = 397
	mtUpper  = 0x80000000
	mtLower  = 0x7fffffff
	mtMatrix = 0x9908b0df
)

// NewNumpyRandomState returns the generator of np.random.seed(seed) (NumPy accepts seeds
// in [0, 2³²)).
func NewNumpyRandomState(seed uint32) *NumpyRandomState {
	r := &NumpyRandomState{pos: mtN}
	s := seed
	for i := range r.mt {
		r.mt[i] = s
		s = 1812433253*(s^(s>>30)) + uint32(i) + 1
	}
	return r
}

// regenerate computes the next block of mtN words.
func (r *NumpyRandomState) regenerate() {
	twist := func(a, b uint32) uint32 {
		y := a&mtUpper | b&mtLower
		v := y >> 1
		if y&1 != 0 {
			v ^= mtMatrix
		}
		return v
	}
	for i := range mtN {
		r.mt[i] = r.mt[(i+mtM)%mtN] ^ twist(r.mt[i], r.mt[(i+1)%mtN])
	}
	r.pos = 0
}

// Uint32 returns the generator's next 32-bit output (NumPy's next_uint32).
func (r *NumpyRandomState) Uint32() uint32 {
	if r.pos >= mtN {
		r.regenerate()
	}
	y := r.mt[r.pos]
	r.pos++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Uint64 returns two outputs as one 64-bit value, the first in the high half (NumPy's
// next_uint64 for MT19937).
func (r *NumpyRandomState) Uint64() uint64 {
	hi := uint64(r.Uint32())
	return hi<<32 | uint64(r.Uint32())
}

// Interval returns a uniform integer in [0, max] as NumPy's random_interval does: draws
// masked to max's bit length, redrawn while above max (32-bit draws when max fits in
// 32 bits).
func (r *NumpyRandomState) Interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := max
	for s := uint(1); s < 64; s <<= 1 {
		mask |= mask >> s
	}
	if max <= 0xffffffff {
		for {
			if v := uint64(r.Uint32()) & mask; v <= max {
				return v
			}
		}
	}
	for {
		if v := r.Uint64() & mask; v <= max {
			return v
		}
	}
}

// Permutation returns np.random.permutation(n): 0 … n-1 shuffled by NumPy's legacy
// shuffle. It is also what RandomState.choice(n, size, replace=False) draws (its first size
// elements), and so what pandas' sample(frac=f) takes rows by.
func (r *NumpyRandomState) Permutation(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i >= 1; i-- {
		j := int(r.Interval(uint64(i)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
