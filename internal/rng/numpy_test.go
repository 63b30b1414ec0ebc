package rng

import (
	"slices"
	"testing"
)

// The expected values were printed by NumPy 1.24.2 (Debian's python3-numpy) and pandas
// 1.5.3, e.g. np.random.RandomState(0)._bit_generator.random_raw(3) and, after
// np.random.seed(7), np.random.permutation(10).
func TestNumpyRandomStateGolden(t *testing.T) {
	raw := func(seed uint32, n int) []uint32 {
		r := NewNumpyRandomState(seed)
		out := make([]uint32, n)
		for i := range out {
			out[i] = r.Uint32()
		}
		return out
	}
	if got, want := raw(0, 3), []uint32{2357136044, 2546248239, 3071714933}; !slices.Equal(got, want) {
		t.Errorf("seed 0 raw: got %v, want %v", got, want)
	}
	if got, want := raw(12345, 2), []uint32{3992670690, 3823185381}; !slices.Equal(got, want) {
		t.Errorf("seed 12345 raw: got %v, want %v", got, want)
	}
	r := NewNumpyRandomState(7)
	if got, want := r.Permutation(10), []int{8, 5, 0, 2, 1, 9, 7, 3, 6, 4}; !slices.Equal(got, want) {
		t.Errorf("seed 7 permutation(10): got %v, want %v", got, want)
	}
	// The same stream goes on: a second call continues where the first stopped, past the
	// first 624-word block.
	if got, want := r.Permutation(1000)[:8], []int{113, 796, 712, 510, 492, 838, 482, 271}; !slices.Equal(got, want) {
		t.Errorf("seed 7 then permutation(1000)[:8]: got %v, want %v", got, want)
	}
	// pandas: np.random.seed(3); s = pd.Series(range(20)); s.sample(frac=0.3) takes rows
	// permutation(20)[:6]; s.sample(frac=1.0) then takes the next permutation(20).
	r = NewNumpyRandomState(3)
	if got, want := r.Permutation(20)[:6], []int{14, 2, 1, 17, 4, 16}; !slices.Equal(got, want) {
		t.Errorf("seed 3 sample(frac=0.3): got %v, want %v", got, want)
	}
	if got, want := r.Permutation(20), []int{4, 9, 7, 6, 19, 0, 16, 11, 13, 8, 5, 10, 3, 1, 12, 15, 18, 2, 17, 14}; !slices.Equal(got, want) {
		t.Errorf("seed 3 then sample(frac=1.0): got %v, want %v", got, want)
	}
	if got, want := NewNumpyRandomState(4294967295).Permutation(700)[695:], []int{576, 71, 12, 290, 419}; !slices.Equal(got, want) {
		t.Errorf("seed 2³²-1 permutation(700)[-5:]: got %v, want %v", got, want)
	}
}

func TestNumpyIntervalBounds(t *testing.T) {
	r := NewNumpyRandomState(1)
	for _, max := range []uint64{0, 1, 2, 5, 1 << 31, 1<<32 - 1, 1 << 32, 1<<40 + 3} {
		for range 200 {
			if v := r.Interval(max); v > max {
				t.Fatalf("Interval(%d) = %d", max, v)
			}
		}
	}
	p := NewNumpyRandomState(9).Permutation(257)
	s := slices.Clone(p)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			t.Fatalf("Permutation(257) is not a permutation: %v", p)
		}
	}
	if len(NewNumpyRandomState(9).Permutation(0)) != 0 {
		t.Fatal("Permutation(0) is not empty")
	}
}
