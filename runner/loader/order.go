package loader

import (
	"math/rand/v2"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// Streams keep the shuffle and the augmentation draws independent of each other. Their
// outputs are pinned (see internal/rng's stability policy): changing them changes batches.
const (
	streamShuffle uint64 = iota + 1
	streamAugment
)

// newRand returns the PCG generator of one stream of (seed, epoch, index): nearby inputs
// give unrelated streams.
func newRand(seed int64, epoch, index int, stream uint64) *rand.Rand {
	hi := rng.New(seed).Index(epoch)
	return rng.NewRand(hi, hi.Stream(stream).Index(index))
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
