package shapes

import (
	"math"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// Placement limits of the synthetic layout.
const (
	placeAttempts = 40 // candidate positions tried per object before giving up on it
	minShapePix   = 40 // fewest visible-in-image pixels of an object
	minShapeSide  = 4  // narrowest box side in pixels (xmax-xmin+1)
	minInside     = 0.5
)

// placedShape is one object of a layout.
type placedShape struct {
	label int // index into ClassNames()
	m     mask
}

// layout is what image i shows where: its size and its objects in drawing order.
type layout struct {
	w, h   int
	shapes []placedShape
}

func (l layout) objects() []dataset.Object {
	out := make([]dataset.Object, len(l.shapes))
	for k, s := range l.shapes {
		b := s.m.box
		out[k] = dataset.Object{Box: [4]float64{float64(b[0]), float64(b[1]), float64(b[2]), float64(b[3])}, Label: s.label}
	}
	return out
}

// layout places the objects of image i. It draws only from the layout stream, so boxes can
// be computed without painting.
func (d *Dataset) layout(i int) layout {
	c := &d.cfg
	r := rng.New(int64(c.Seed)).Index(i).Stream(streamLayout).SplitMix64()
	l := layout{w: c.ImageWidth, h: c.ImageHeight}
	if l.w == 0 {
		l.w = r.Between(c.MinSize, c.MaxSize)
	}
	if l.h == 0 {
		l.h = r.Between(c.MinSize, c.MaxSize)
	}
	want := r.Between(c.MinObjects, c.MaxObjects)
	side := float64(min(l.w, l.h))
	owner := make([]int16, l.w*l.h) // which object shows at each pixel, -1 for none
	for k := range owner {
		owner[k] = -1
	}
	var visible []int // pixels of each placed object still visible
	var covered []int // scratch: pixels of each placed object the candidate would cover
	var xs []float64
	for len(l.shapes) < want {
		// The class is drawn once per object (not per attempt), so that classes that are
		// harder to place are not under-represented.
		kindIdx := r.IntN(len(d.kinds))
		placed := false
		for attempt := 0; attempt < placeAttempts && !placed; attempt++ {
			rad := side * r.LogUniform(c.MinObjectSize, c.MaxObjectSize) / 2
			angle := r.Uniform(0, 2*math.Pi)
			centre := placeCentre(r, l.w, l.h, rad, c.Border)
			contours := shapeContours(d.kinds[kindIdx], centre, rad, angle, r)
			var m mask
			m, xs = rasterize(contours, l.w, l.h, xs)
			if !acceptable(m) {
				continue
			}
			if overlapsTooMuch(m.box, l.shapes, c.MaxOverlap) {
				continue
			}
			covered = covered[:0]
			for range l.shapes {
				covered = append(covered, 0)
			}
			for _, rn := range m.runs {
				row := owner[int(rn.y)*l.w:]
				for x := rn.x0; x < rn.x1; x++ {
					if o := row[x]; o >= 0 {
						covered[o]++
					}
				}
			}
			ok := true
			for j, s := range l.shapes {
				if float64(visible[j]-covered[j]) < c.MinVisible*float64(s.m.area) {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			id := int16(len(l.shapes))
			for _, rn := range m.runs {
				row := owner[int(rn.y)*l.w:]
				for x := rn.x0; x < rn.x1; x++ {
					row[x] = id
				}
			}
			for j := range visible {
				visible[j] -= covered[j]
			}
			visible = append(visible, m.area)
			l.shapes = append(l.shapes, placedShape{label: kindIdx + 1, m: m})
			placed = true
		}
		if !placed {
			break // the image is full: keep the objects placed so far
		}
	}
	return l
}

// placeCentre draws the centre of an object of circumscribed radius rad: inside the image
// (the whole circle inside where it fits) or, with probability border, near an edge so that
// the border may cut the object.
func placeCentre(r *rng.SplitMix64, w, h int, rad, border float64) pt {
	fw, fh := float64(w), float64(h)
	inside := func(size float64) float64 {
		if size <= 2*rad {
			return size / 2
		}
		return r.Uniform(rad, size-rad)
	}
	if !r.Chance(border) {
		return pt{inside(fw), inside(fh)}
	}
	// Distance of the centre from the chosen edge, negative outside the image.
	off := rad * r.Uniform(-0.2, 0.8)
	switch r.IntN(4) {
	case 0:
		return pt{off, r.Uniform(0, fh)}
	case 1:
		return pt{fw - off, r.Uniform(0, fh)}
	case 2:
		return pt{r.Uniform(0, fw), off}
	default:
		return pt{r.Uniform(0, fw), fh - off}
	}
}

// acceptable reports whether a candidate is large enough and mostly inside the image.
func acceptable(m mask) bool {
	return m.area >= minShapePix &&
		float64(m.area) >= minInside*float64(m.full) &&
		m.box[2]-m.box[0]+1 >= minShapeSide && m.box[3]-m.box[1]+1 >= minShapeSide
}

// overlapsTooMuch reports whether box b has an IoU above limit with a placed object's box
// (areas counted in pixels, boxes inclusive).
func overlapsTooMuch(b [4]int, placed []placedShape, limit float64) bool {
	area := func(b [4]int) int { return (b[2] - b[0] + 1) * (b[3] - b[1] + 1) }
	for _, s := range placed {
		o := s.m.box
		iw := min(b[2], o[2]) - max(b[0], o[0]) + 1
		ih := min(b[3], o[3]) - max(b[1], o[1]) + 1
		if iw <= 0 || ih <= 0 {
			continue
		}
		inter := iw * ih
		if float64(inter) > limit*float64(area(b)+area(o)-inter) {
			return true
		}
	}
	return false
}
