package shapes

import (
	"math"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// Names lists the classes that the "shapes" dataset can draw, in their default order.
func Names() []string { return append([]string(nil), shapeNames...) }

var shapeNames = []string{"circle", "ellipse", "square", "triangle", "hexagon", "star", "cross", "ring"}

// Indices into shapeNames.
const (
	shapeCircle = iota
	shapeEllipse
	shapeSquare
	shapeTriangle
	shapeHexagon
	shapeStar
	shapeCross
	shapeRing
)

// circleSides is the number of sides of the polygons that draw round outlines (the chord
// error stays under 0.3 px for radii up to 250 px).
const circleSides = 64

// shapeContours returns the outline(s) of a shape of the given kind whose circumscribed
// circle has radius rad around c, rotated by angle. Proportions that vary between instances
// (an ellipse's aspect, a star's inner radius …) are drawn from r.
func shapeContours(kind int, c pt, rad, angle float64, r *rng.SplitMix64) [][]pt {
	switch kind {
	case shapeCircle:
		return [][]pt{regularPolygon(c, rad, circleSides, 0)}
	case shapeEllipse:
		aspect := r.Uniform(0.42, 0.68)
		unit := make([]pt, circleSides)
		for k := range unit {
			a := 2 * math.Pi * float64(k) / circleSides
			unit[k] = pt{math.Cos(a), aspect * math.Sin(a)}
		}
		return [][]pt{transform(unit, c, rad, angle)}
	case shapeSquare:
		return [][]pt{regularPolygon(c, rad, 4, angle+math.Pi/4)}
	case shapeTriangle:
		return [][]pt{regularPolygon(c, rad, 3, angle)}
	case shapeHexagon:
		return [][]pt{regularPolygon(c, rad, 6, angle)}
	case shapeStar:
		inner := r.Uniform(0.36, 0.5)
		unit := make([]pt, 10)
		for k := range unit {
			rr := 1.0
			if k%2 == 1 {
				rr = inner
			}
			a := math.Pi * float64(k) / 5
			unit[k] = pt{rr * math.Cos(a), rr * math.Sin(a)}
		}
		return [][]pt{transform(unit, c, rad, angle)}
	case shapeCross:
		w := r.Uniform(0.2, 0.34)
		unit := []pt{{w, 1}, {w, w}, {1, w}, {1, -w}, {w, -w}, {w, -1},
			{-w, -1}, {-w, -w}, {-1, -w}, {-1, w}, {-w, w}, {-w, 1}}
		return [][]pt{transform(unit, c, rad/math.Hypot(1, w), angle)}
	case shapeRing:
		inner := r.Uniform(0.42, 0.66)
		return [][]pt{regularPolygon(c, rad, circleSides, 0), regularPolygon(c, rad*inner, circleSides, 0)}
	}
	panic("dataset: unknown shape kind") // kinds are validated when the config is decoded
}

// blobContour returns an irregular polygon (for unlabelled clutter) of mean radius about rad.
func blobContour(c pt, rad float64, r *rng.SplitMix64) []pt {
	n := r.Between(6, 10)
	out := make([]pt, n)
	phase := r.Uniform(0, 2*math.Pi)
	for k := range out {
		a := phase + 2*math.Pi*(float64(k)+r.Uniform(-0.4, 0.4))/float64(n)
		rr := rad * r.Uniform(0.5, 1)
		out[k] = pt{c.x + rr*math.Cos(a), c.y + rr*math.Sin(a)}
	}
	return out
}

// segmentContour returns a thick line from a to b as a quadrilateral.
func segmentContour(a, b pt, width float64) []pt {
	dx, dy := b.x-a.x, b.y-a.y
	l := math.Hypot(dx, dy)
	if l == 0 {
		return nil
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	return []pt{{a.x + nx, a.y + ny}, {b.x + nx, b.y + ny}, {b.x - nx, b.y - ny}, {a.x - nx, a.y - ny}}
}
