package loader

import "math/rand/v2"

// Streams keep the shuffle and the augmentation draws independent of each other.
const (
	streamShuffle uint64 = iota + 1
	streamAugment
)

// mix64 is SplitMix64's finaliser: a bijection that spreads every input bit over the output.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// newRand returns the PCG generator of one stream of (seed, epoch, index): nearby inputs
// give unrelated streams.
func newRand(seed int64, epoch, index int, stream uint64) *rand.Rand {
	hi := mix64(uint64(seed) + 0x9e3779b97f4a7c15)
	hi = mix64(hi ^ (uint64(epoch)+1)*0xd1b54a32d192ed03)
	lo := mix64(hi ^ stream*0xabc98388fb8fac03)
	lo = mix64(lo ^ (uint64(index)+1)*0x9e3779b97f4a7c15)
	return rand.New(rand.NewPCG(hi, lo))
}

// sampleRand returns the augmentation generator of dataset sample index in epoch.
func sampleRand(seed int64, epoch, index int) *rand.Rand {
	return newRand(seed, epoch, index, streamAugment)
}

// epochOrder returns the dataset indices in the order epoch visits them: a permutation of
// 0..n-1 that depends only on (seed, epoch) when shuffle is set, else 0..n-1.
func epochOrder(n int, shuffle bool, seed int64, epoch int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if shuffle {
		r := newRand(seed, epoch, 0, streamShuffle)
		r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}
