package shapes

import "math"

// pt is a point in continuous image coordinates: pixel (x, y) covers [x, x+1) × [y, y+1).
type pt struct{ x, y float64 }

// run is a horizontal run of pixels [x0, x1) on row y.
type run struct{ y, x0, x1 int32 }

// mask is the set of pixels covered by a shape, clipped to the image, as runs sorted by row
// then column. A pixel is covered when its centre lies inside the shape (even-odd rule over
// all its contours, so a contour inside another makes a hole).
type mask struct {
	runs []run
	area int    // covered pixels inside the image
	full int    // covered pixels on an unbounded canvas (area plus what the border cut off)
	box  [4]int // xmin, ymin, xmax, ymax of the covered pixels inside the image, inclusive
}

// rasterize computes the mask of the polygon set contours on a w×h image. xs is scratch
// space that may be reused between calls (it is returned, possibly grown).
func rasterize(contours [][]pt, w, h int, xs []float64) (mask, []float64) {
	m := mask{box: [4]int{math.MaxInt, math.MaxInt, -1, -1}}
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, c := range contours {
		for _, p := range c {
			minY = math.Min(minY, p.y)
			maxY = math.Max(maxY, p.y)
		}
	}
	if !(minY < maxY) { // also rejects NaN and empty input
		return m, xs
	}
	// Rows whose centre y+0.5 lies in [minY, maxY).
	y0 := int(math.Ceil(minY - 0.5))
	y1 := int(math.Ceil(maxY-0.5)) - 1
	for y := y0; y <= y1; y++ {
		yc := float64(y) + 0.5
		xs = xs[:0]
		for _, c := range contours {
			for k := range c {
				a, b := c[k], c[(k+1)%len(c)]
				if (a.y <= yc) != (b.y <= yc) {
					xs = append(xs, a.x+(yc-a.y)*(b.x-a.x)/(b.y-a.y))
				}
			}
		}
		sortFloats(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// Columns whose centre x+0.5 lies in [xs[k], xs[k+1]).
			lo := int(math.Ceil(xs[k] - 0.5))
			hi := int(math.Ceil(xs[k+1]-0.5)) - 1
			if hi < lo {
				continue
			}
			m.full += hi - lo + 1
			if y < 0 || y >= h {
				continue
			}
			lo, hi = max(lo, 0), min(hi, w-1)
			if hi < lo {
				continue
			}
			m.runs = append(m.runs, run{y: int32(y), x0: int32(lo), x1: int32(hi + 1)})
			m.area += hi - lo + 1
			m.box[0] = min(m.box[0], lo)
			m.box[1] = min(m.box[1], y)
			m.box[2] = max(m.box[2], hi)
			m.box[3] = max(m.box[3], y)
		}
	}
	return m, xs
}

// sortFloats sorts a short slice in place (insertion sort: the slices hold a few crossings).
func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i - 1
		for ; j >= 0 && a[j] > v; j-- {
			a[j+1] = a[j]
		}
		a[j+1] = v
	}
}

// regularPolygon returns n points on the circle of radius r around c, the first at angle phase.
func regularPolygon(c pt, r float64, n int, phase float64) []pt {
	out := make([]pt, n)
	for k := range out {
		a := phase + 2*math.Pi*float64(k)/float64(n)
		out[k] = pt{c.x + r*math.Cos(a), c.y + r*math.Sin(a)}
	}
	return out
}

// transform rotates unit-shape points by angle, scales them by s and moves them to c.
func transform(in []pt, c pt, s, angle float64) []pt {
	sin, cos := math.Sincos(angle)
	out := make([]pt, len(in))
	for k, p := range in {
		out[k] = pt{c.x + s*(p.x*cos-p.y*sin), c.y + s*(p.x*sin+p.y*cos)}
	}
	return out
}
