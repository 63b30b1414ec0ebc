package metric

import (
	"fmt"
	"math"
)

// set is the checked and indexed input of one evaluation.
type set struct {
	numClasses int
	// Ground truths, flattened over the images in input order.
	gtBox   [][4]float64
	gtLabel []int32
	gtHard  []bool  // difficult
	gtImage []int32 // index into the gts argument
	// cells lists the ground truths of each image and class (flat indices, input order).
	cells map[cell][]int32
	// positives counts the non-difficult ground truths of each class.
	positives []int
	dets      []Detection
	detImage  []int32
	// byClass lists the detections of each class (indices into dets, input order).
	byClass [][]int32
}

// cell identifies the objects of one class in one image.
type cell struct{ image, class int32 }

// newSet checks the inputs of an evaluation and indexes them. Errors name the metric and
// the first offending entry.
func newSet(metric string, classNames []string, gts []GroundTruth, dets []Detection) (*set, error) {
	fail := func(format string, args ...any) (*set, error) {
		return nil, fmt.Errorf("metric %s: "+format, append([]any{metric}, args...)...)
	}
	if len(classNames) < 2 {
		return fail("%d class names, want the background and at least one class", len(classNames))
	}
	c := len(classNames)
	s := &set{
		numClasses: c,
		cells:      map[cell][]int32{},
		positives:  make([]int, c),
		dets:       dets,
		detImage:   make([]int32, len(dets)),
		byClass:    make([][]int32, c),
	}
	images := make(map[string]int32, len(gts))
	for i, g := range gts {
		if g.ImageID == "" {
			return fail("ground truth %d: empty image ID", i)
		}
		if j, dup := images[g.ImageID]; dup {
			return fail("image %q has two ground-truth entries (%d and %d)", g.ImageID, j, i)
		}
		images[g.ImageID] = int32(i)
		if len(g.Labels) != len(g.Boxes) {
			return fail("image %q: %d boxes but %d labels", g.ImageID, len(g.Boxes), len(g.Labels))
		}
		if len(g.Difficult) != 0 && len(g.Difficult) != len(g.Boxes) {
			return fail("image %q: %d boxes but %d difficult flags", g.ImageID, len(g.Boxes), len(g.Difficult))
		}
		for k, b := range g.Boxes {
			if why := badBox(b); why != "" {
				return fail("image %q: ground truth %d: box %v %s", g.ImageID, k, b, why)
			}
			l := g.Labels[k]
			if l < 1 || l >= c {
				return fail("image %q: ground truth %d: label %d outside 1..%d", g.ImageID, k, l, c-1)
			}
			hard := len(g.Difficult) != 0 && g.Difficult[k]
			key := cell{int32(i), int32(l)}
			s.cells[key] = append(s.cells[key], int32(len(s.gtBox)))
			s.gtBox = append(s.gtBox, b)
			s.gtLabel = append(s.gtLabel, int32(l))
			s.gtHard = append(s.gtHard, hard)
			s.gtImage = append(s.gtImage, int32(i))
			if !hard {
				s.positives[l]++
			}
		}
	}
	for d, det := range dets {
		img, ok := images[det.ImageID]
		if !ok {
			return fail("detection %d: unknown image %q (not among the ground truths)", d, det.ImageID)
		}
		if det.Label < 1 || det.Label >= c {
			return fail("detection %d (image %q): label %d outside 1..%d", d, det.ImageID, det.Label, c-1)
		}
		if math.IsNaN(det.Score) || math.IsInf(det.Score, 0) {
			return fail("detection %d (image %q): score %v is not a finite number", d, det.ImageID, det.Score)
		}
		if why := badBox(det.Box); why != "" {
			return fail("detection %d (image %q): box %v %s", d, det.ImageID, det.Box, why)
		}
		s.detImage[d] = img
		s.byClass[det.Label] = append(s.byClass[det.Label], int32(d))
	}
	return s, nil
}

// badBox says what is wrong with a corner-form box, or returns "".
func badBox(b [4]float64) string {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "has a coordinate that is not a finite number"
		}
	}
	if b[2] < b[0] || b[3] < b[1] {
		return "is inverted (xmax < xmin or ymax < ymin)"
	}
	return ""
}

// pairs lists, for every detection, the ground truths of its image and class.
type pairs struct {
	start []int32 // detection d's pairs are start[d] to start[d+1]
	gt    []int32 // flat ground-truth index of each pair
}

// pairsOf lists the pairs of every detection, the ground truths of a cell in the order
// cells gives.
func (s *set) pairsOf(cells map[cell][]int32) pairs {
	p := pairs{start: make([]int32, len(s.dets)+1)}
	for d, det := range s.dets {
		p.gt = append(p.gt, cells[cell{s.detImage[d], int32(det.Label)}]...)
		p.start[d+1] = int32(len(p.gt))
	}
	return p
}
