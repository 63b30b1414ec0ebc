package dataset

import "github.com/ssdrunner/ssdrunner/internal/rng"

// Streams of one synthetic image: what is drawn where (and so the boxes) is independent of
// how it is coloured, so annotations can be produced without painting. Their outputs are
// pinned (see internal/rng's stability policy): changing them changes the dataset.
const (
	streamLayout uint64 = iota + 1
	streamPaint
)

// newRNG returns the generator of one stream of sample (or class) i of the dataset with the
// given seed.
func newRNG(seed int64, i int, stream uint64) *rng.SplitMix64 {
	return rng.New(seed).Index(i).Stream(stream).SplitMix64()
}
