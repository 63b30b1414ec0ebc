package dataset

import (
	"fmt"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// streamBalance is the rng stream of balance_data (the shapes package has the others).
const streamBalance uint64 = 0x62616c616e6365 // "balance"

// balanceImages down-samples frequent classes as the reference's
// OpenImagesDataset._balance_data does: let m be the number of images of the rarest class
// (an image counts once per class however many boxes of it it has); for every class,
// a uniformly random subset of m of its images is drawn, and the result is the union of
// these subsets. Images keep all their boxes, so frequent classes still end up in more than
// m images.
//
// The draws depend only on seed and the class's label (each class has its own random
// stream, where the reference draws permutations from NumPy's global generator one class
// after the other), so a seed gives the same selection on every run. The kept images stay in
// their original order (the reference returns them in the iteration order of a Python set
// of indices, which is mostly ascending). It returns the kept images and m; a class without
// any image is an error (the reference would return an empty dataset).
func balanceImages(images []oiImage, names []string, seed int64) ([]oiImage, int, error) {
	perClass := make([][]int, len(names)) // label → indices of the images that contain it, ascending
	for i, im := range images {
		for _, l := range im.labels {
			if n := len(perClass[l]); n == 0 || perClass[l][n-1] != i {
				perClass[l] = append(perClass[l], i)
			}
		}
	}
	m := len(images)
	for l := 1; l < len(names); l++ {
		if len(perClass[l]) == 0 {
			return nil, 0, fmt.Errorf("balance_data: class %q has no image", names[l])
		}
		m = min(m, len(perClass[l]))
	}
	keep := make([]bool, len(images))
	for l := 1; l < len(names); l++ {
		idx := append([]int(nil), perClass[l]...)
		r := rng.New(seed).Index(l).Stream(streamBalance).SplitMix64()
		// Partial Fisher-Yates: idx[:m] becomes a uniform random m-subset.
		for k := 0; k < m; k++ {
			j := k + r.IntN(len(idx)-k)
			idx[k], idx[j] = idx[j], idx[k]
			keep[idx[k]] = true
		}
	}
	out := make([]oiImage, 0, len(images))
	for i, im := range images {
		if keep[i] {
			out = append(out, im)
		}
	}
	return out, m, nil
}
