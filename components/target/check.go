package target

import (
	"errors"
	"fmt"
	"math"
)

// BoxTolerance is how far outside the image [0,1] a relative coordinate may lie before
// CheckBoxes rejects it. Coordinates that transforms clip to the image and then divide by
// its size land in [0,1] exactly; the tolerance (about 8 float32 steps at 1.0) only
// absorbs rounding from other arithmetic.
const BoxTolerance = 1e-6

// CheckBoxes rejects ground-truth boxes that would make the targets or the loss NaN or
// infinite, or that cannot be real objects. boxes are in corner form (xmin, ymin, xmax,
// ymax) relative to the image, as Matcher.Match takes them, after every transform. A box
// is rejected when
//
//   - a coordinate is NaN or infinite;
//   - its width or height is zero or negative (xmax <= xmin or ymax <= ymin): the target
//     encoding takes log(width) and log(height), so such a box gives an infinite or NaN
//     location, the main source of NaN losses in the reference's users' reports;
//   - a coordinate lies outside [0,1] by more than BoxTolerance: a box beyond the image
//     means a wrong annotation or a transform bug (boxes are not clipped here).
//
// The error names the image, the index of the first bad box in boxes and its values, and
// counts the further bad boxes. A nil or empty slice is valid (an image without objects).
func CheckBoxes(imageID string, boxes [][4]float32) error {
	first, reason, bad := -1, "", 0
	for i, b := range boxes {
		if r := boxProblem(b); r != "" {
			if first < 0 {
				first, reason = i, r
			}
			bad++
		}
	}
	if first < 0 {
		return nil
	}
	b := boxes[first]
	msg := fmt.Sprintf("image %q: box %d [xmin ymin xmax ymax] = [%g %g %g %g] (relative to the image): %s",
		imageID, first, b[0], b[1], b[2], b[3], reason)
	if bad > 1 {
		msg += fmt.Sprintf(" (and %d more bad boxes of %d)", bad-1, len(boxes))
	}
	return errors.New(msg)
}

// boxProblem describes what is wrong with one box, or returns "".
func boxProblem(b [4]float32) string {
	for _, c := range b {
		if f := float64(c); math.IsNaN(f) || math.IsInf(f, 0) {
			return "a coordinate is NaN or infinite"
		}
	}
	switch {
	case !(b[2] > b[0]):
		return "zero or negative width (xmax <= xmin)"
	case !(b[3] > b[1]):
		return "zero or negative height (ymax <= ymin)"
	}
	for _, c := range b {
		if f := float64(c); f < -BoxTolerance || f > 1+BoxTolerance {
			return fmt.Sprintf("outside the image: coordinates must lie in [0,1] (tolerance %g)", BoxTolerance)
		}
	}
	return ""
}
