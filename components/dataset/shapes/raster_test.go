package shapes

import (
	"math"
	"testing"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// insideEvenOdd is a brute-force point-in-polygon test (even-odd over all contours), an
// independent check of the scanline rasteriser.
func insideEvenOdd(contours [][]pt, p pt) bool {
	in := false
	for _, c := range contours {
		for k := range c {
			a, b := c[k], c[(k+1)%len(c)]
			if (a.y <= p.y) != (b.y <= p.y) && p.x < a.x+(p.y-a.y)*(b.x-a.x)/(b.y-a.y) {
				in = !in
			}
		}
	}
	return in
}

// TestRasterizeMatchesBruteForce draws every shape kind (and clutter) at random places,
// partly outside a small image, and compares the covered pixels, the counts and the box
// with a per-pixel test of the pixel centres.
func TestRasterizeMatchesBruteForce(t *testing.T) {
	const w, h = 64, 48
	r := rng.NewSplitMix64(42)
	var xs []float64
	for trial := 0; trial < 400; trial++ {
		c := pt{r.Uniform(-20, w+20), r.Uniform(-20, h+20)}
		rad := r.Uniform(1, 40)
		var contours [][]pt
		if kind := trial % (len(shapeNames) + 1); kind < len(shapeNames) {
			contours = shapeContours(kind, c, rad, r.Uniform(0, 2*math.Pi), r)
		} else {
			contours = [][]pt{blobContour(c, rad, r)}
		}
		var m mask
		m, xs = rasterize(contours, w, h, xs)
		got := make([]bool, w*h)
		for _, rn := range m.runs {
			for x := rn.x0; x < rn.x1; x++ {
				if got[int(rn.y)*w+int(x)] {
					t.Fatalf("trial %d: pixel (%d,%d) in two runs", trial, x, rn.y)
				}
				got[int(rn.y)*w+int(x)] = true
			}
		}
		area, full := 0, 0
		box := [4]int{math.MaxInt, math.MaxInt, -1, -1}
		lo, hi := pt{math.Inf(1), math.Inf(1)}, pt{math.Inf(-1), math.Inf(-1)}
		for _, c := range contours {
			for _, p := range c {
				lo = pt{math.Min(lo.x, p.x), math.Min(lo.y, p.y)}
				hi = pt{math.Max(hi.x, p.x), math.Max(hi.y, p.y)}
			}
		}
		for y := int(math.Floor(lo.y)) - 1; y <= int(math.Ceil(hi.y)); y++ {
			for x := int(math.Floor(lo.x)) - 1; x <= int(math.Ceil(hi.x)); x++ {
				if !insideEvenOdd(contours, pt{float64(x) + 0.5, float64(y) + 0.5}) {
					continue
				}
				full++
				if x < 0 || y < 0 || x >= w || y >= h {
					continue
				}
				area++
				box = [4]int{min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)}
				if !got[y*w+x] {
					t.Fatalf("trial %d: pixel (%d,%d) is inside but not rasterised", trial, x, y)
				}
			}
		}
		if area != m.area || full != m.full || (area > 0 && box != m.box) {
			t.Fatalf("trial %d: area %d full %d box %v; brute force %d %d %v", trial, m.area, m.full, m.box, area, full, box)
		}
	}
}
