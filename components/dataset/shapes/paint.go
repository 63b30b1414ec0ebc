package shapes

import (
	"image"
	"math"

	"github.com/ssdrunner/ssdrunner/internal/rng"
)

// rgb is a colour with channels on the 0-255 scale.
type rgb [3]float64

func lerp(a, b rgb, t float64) rgb {
	return rgb{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func clamp255(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// px is an opaque RGBA pixel as stored in image.RGBA.Pix.
type px [4]uint8

func (c rgb) px() px { return px{clamp255(c[0]), clamp255(c[1]), clamp255(c[2]), 255} }

func setPix(p []uint8, off int, c px) { *(*px)(p[off : off+4]) = c }

// colourRamp tabulates the colours from a (t=0) to b (t=1) in 256 steps.
type colourRamp [256]px

func ramp(a, b rgb) *colourRamp {
	var out colourRamp
	for k := range out {
		out[k] = lerp(a, b, float64(k)/255).px()
	}
	return &out
}

// at returns the ramp's colour at t, clamped to [0, 1].
func (r *colourRamp) at(t float64) px {
	k := int(t*255 + 0.5)
	if k < 0 {
		k = 0
	} else if k > 255 {
		k = 255
	}
	return r[k]
}

// hsv returns the colour of hue h (turns), saturation s and value v (both in [0, 1]).
func hsv(h, s, v float64) rgb {
	h = (h - math.Floor(h)) * 6
	k := int(h)
	f := h - float64(k)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var c [3]float64
	switch k % 6 {
	case 0:
		c = [3]float64{v, t, p}
	case 1:
		c = [3]float64{q, v, p}
	case 2:
		c = [3]float64{p, v, t}
	case 3:
		c = [3]float64{p, q, v}
	case 4:
		c = [3]float64{t, p, v}
	default:
		c = [3]float64{v, p, q}
	}
	return rgb{255 * c[0], 255 * c[1], 255 * c[2]}
}

// randomColour draws a colour with saturation and value in the given ranges.
func randomColour(r *rng.SplitMix64, sLo, sHi, vLo, vHi float64) rgb {
	return hsv(r.Float64(), r.Uniform(sLo, sHi), r.Uniform(vLo, vHi))
}

// nearColour draws a colour 18-40 units (Euclidean, 0-255 scale) away from c.
func nearColour(c rgb, r *rng.SplitMix64) rgb {
	var v rgb
	n := 0.0
	for n < 1e-6 {
		v = rgb{r.Uniform(-1, 1), r.Uniform(-1, 1), r.Uniform(-1, 1)}
		n = math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	}
	d := r.Uniform(18, 40) / n
	out := rgb{c[0] + d*v[0], c[1] + d*v[1], c[2] + d*v[2]}
	for k := range out {
		if out[k] < 0 || out[k] > 255 { // step the other way rather than lose contrast to clamping
			out[k] = c[k] - d*v[k]
		}
	}
	return out
}

// paint draws image i of layout l: a textured background, optional clutter, the objects in
// layout order, then per-pixel noise. It draws only from the paint stream.
func (d *Dataset) paint(i int, l layout) *image.RGBA {
	c := &d.cfg
	r := rng.New(int64(c.Seed)).Index(i).Stream(streamPaint).SplitMix64()
	img := image.NewRGBA(image.Rect(0, 0, l.w, l.h))
	paintBackground(img, r)
	var xs []float64
	if r.Chance(c.Clutter) {
		xs = paintClutter(img, r, xs)
	}
	for _, s := range l.shapes {
		col := randomColour(r, 0.15, 1, 0.12, 1)
		if r.Chance(c.LowContrast) {
			col = nearColour(meanUnder(img, s.m), r)
		}
		fillShape(img, s.m, col, r)
	}
	addNoise(img, r, r.Uniform(0, c.Noise))
	return img
}

// paintBackground covers img with one of five textures.
func paintBackground(img *image.RGBA, r *rng.SplitMix64) {
	c1 := randomColour(r, 0, 0.9, 0.1, 1)
	c2 := randomColour(r, 0, 0.9, 0.1, 1)
	switch r.IntN(5) {
	case 0:
		valueNoise(img, r, c1, c2)
	case 1:
		gradient(img, r, c1, c2)
	case 2:
		stripes(img, r, c1, c2, r.Uniform(6, 40))
	case 3:
		checker(img, r, c1, c2)
	default:
		blobs(img, r, c1)
	}
}

// valueNoise paints two octaves of smooth random noise between colours a and b.
func valueNoise(img *image.RGBA, r *rng.SplitMix64, a, b rgb) {
	colours := ramp(a, b)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := float64(min(w, h))
	type octave struct {
		cell, weight float64
		gw           int
		grid         []float64
		ix           []int
		fx           []float64
	}
	cell := r.Uniform(side/8, side/2.5)
	octs := []*octave{{cell: cell, weight: 0.65}, {cell: cell / 3.5, weight: 0.35}}
	for _, o := range octs {
		o.gw = int(float64(w)/o.cell) + 2
		gh := int(float64(h)/o.cell) + 2
		o.grid = make([]float64, o.gw*gh)
		for k := range o.grid {
			o.grid[k] = r.Float64()
		}
		o.ix, o.fx = make([]int, w), make([]float64, w)
		for x := 0; x < w; x++ {
			u := (float64(x) + 0.5) / o.cell
			o.ix[x] = int(u)
			o.fx[x] = smooth(u - math.Floor(u))
		}
	}
	o1, o2 := octs[0], octs[1]
	for y := 0; y < h; y++ {
		off := y * img.Stride
		v1, v2 := (float64(y)+0.5)/o1.cell, (float64(y)+0.5)/o2.cell
		row1, fy1 := o1.grid[int(v1)*o1.gw:], smooth(v1-math.Floor(v1))
		row2, fy2 := o2.grid[int(v2)*o2.gw:], smooth(v2-math.Floor(v2))
		for x := 0; x < w; x++ {
			t := o1.weight*bilerp(row1[o1.ix[x]:], o1.gw, o1.fx[x], fy1) +
				o2.weight*bilerp(row2[o2.ix[x]:], o2.gw, o2.fx[x], fy2)
			setPix(img.Pix, off+4*x, colours.at(t))
		}
	}
}

// bilerp interpolates the grid cell whose top-left node is g[0] (rows are stride apart).
func bilerp(g []float64, stride int, fx, fy float64) float64 {
	top := g[0] + (g[1]-g[0])*fx
	bot := g[stride] + (g[stride+1]-g[stride])*fx
	return top + (bot-top)*fy
}

func smooth(t float64) float64 { return t * t * (3 - 2*t) }

// gradient paints a linear or radial gradient from a to b.
func gradient(img *image.RGBA, r *rng.SplitMix64, a, b rgb) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	fw, fh := float64(w), float64(h)
	colours := ramp(a, b)
	radial := r.Chance(0.35)
	sin, cos := math.Sincos(r.Uniform(0, 2*math.Pi))
	cx, cy := r.Uniform(0, fw), r.Uniform(0, fh)
	span := math.Hypot(fw, fh)
	for y := 0; y < h; y++ {
		off := y * img.Stride
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			var t float64
			if radial {
				t = math.Sqrt(dx*dx+dy*dy) / span
			} else {
				t = (dx*cos+dy*sin)/span + 0.5
			}
			setPix(img.Pix, off+4*x, colours.at(t))
		}
	}
}

// stripes paints parallel bands of a and b with the given period at a random angle.
func stripes(img *image.RGBA, r *rng.SplitMix64, a, b rgb, period float64) {
	pa, pb := a.px(), b.px()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	sin, cos := math.Sincos(r.Uniform(0, math.Pi))
	duty := r.Uniform(0.3, 0.7)
	for y := 0; y < h; y++ {
		off := y * img.Stride
		for x := 0; x < w; x++ {
			u := (float64(x)*cos + float64(y)*sin) / period
			c := pa
			if u-math.Floor(u) >= duty {
				c = pb
			}
			setPix(img.Pix, off+4*x, c)
		}
	}
}

// checker paints a checkerboard of a and b, axis-aligned or rotated.
func checker(img *image.RGBA, r *rng.SplitMix64, a, b rgb) {
	pa, pb := a.px(), b.px()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	s := r.Uniform(8, 50)
	angle := 0.0
	if r.Chance(0.5) {
		angle = r.Uniform(0, math.Pi/2)
	}
	sin, cos := math.Sincos(angle)
	for y := 0; y < h; y++ {
		off := y * img.Stride
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			u := math.Floor((fx*cos + fy*sin) / s)
			v := math.Floor((fy*cos - fx*sin) / s)
			c := pa
			if int(u+v)&1 != 0 {
				c = pb
			}
			setPix(img.Pix, off+4*x, c)
		}
	}
}

// blobs fills img with base and scatters many muted irregular blobs over it.
func blobs(img *image.RGBA, r *rng.SplitMix64, base rgb) {
	fillRect(img, base)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	side := float64(min(w, h))
	var xs []float64
	for n := r.Between(12, 40); n > 0; n-- {
		c := pt{r.Uniform(0, float64(w)), r.Uniform(0, float64(h))}
		contour := blobContour(c, side*r.Uniform(0.03, 0.18), r)
		var m mask
		m, xs = rasterize([][]pt{contour}, w, h, xs)
		fillSolid(img, m, randomColour(r, 0, 0.5, 0.15, 0.95))
	}
}

// paintClutter draws a few unlabelled blobs and thick lines of random colours.
func paintClutter(img *image.RGBA, r *rng.SplitMix64, xs []float64) []float64 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	fw, fh := float64(w), float64(h)
	side := math.Min(fw, fh)
	for n := r.Between(2, 8); n > 0; n-- {
		var contour []pt
		if r.Chance(0.6) {
			contour = blobContour(pt{r.Uniform(0, fw), r.Uniform(0, fh)}, side*r.Uniform(0.03, 0.12), r)
		} else {
			a := pt{r.Uniform(0, fw), r.Uniform(0, fh)}
			l, ang := side*r.Uniform(0.1, 0.5), r.Uniform(0, 2*math.Pi)
			contour = segmentContour(a, pt{a.x + l*math.Cos(ang), a.y + l*math.Sin(ang)}, r.Uniform(1.5, 6))
		}
		var m mask
		m, xs = rasterize([][]pt{contour}, w, h, xs)
		fillSolid(img, m, randomColour(r, 0, 1, 0.1, 1))
	}
	return xs
}

func fillRect(img *image.RGBA, col rgb) {
	c := col.px()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		off := y * img.Stride
		for x := 0; x < w; x++ {
			setPix(img.Pix, off+4*x, c)
		}
	}
}

func fillSolid(img *image.RGBA, m mask, col rgb) {
	c := col.px()
	for _, rn := range m.runs {
		off := int(rn.y) * img.Stride
		for x := int(rn.x0); x < int(rn.x1); x++ {
			setPix(img.Pix, off+4*x, c)
		}
	}
}

// fillShape fills an object's mask with c: flat, as a gradient towards a shade of c, or as
// fine stripes of c and another colour.
func fillShape(img *image.RGBA, m mask, c rgb, r *rng.SplitMix64) {
	switch u := r.Float64(); {
	case u < 0.55:
		fillSolid(img, m, c)
	case u < 0.85:
		shade := lerp(c, rgb{}, r.Uniform(0.3, 0.6))
		if r.Chance(0.5) {
			shade = lerp(c, rgb{255, 255, 255}, r.Uniform(0.3, 0.6))
		}
		colours := ramp(c, shade)
		sin, cos := math.Sincos(r.Uniform(0, 2*math.Pi))
		b := m.box
		cx, cy := float64(b[0]+b[2])/2, float64(b[1]+b[3])/2
		span := math.Max(math.Hypot(float64(b[2]-b[0]), float64(b[3]-b[1])), 1)
		for _, rn := range m.runs {
			off := int(rn.y) * img.Stride
			dy := float64(rn.y) - cy
			for x := int(rn.x0); x < int(rn.x1); x++ {
				t := ((float64(x)-cx)*cos+dy*sin)/span + 0.5
				setPix(img.Pix, off+4*x, colours.at(t))
			}
		}
	default:
		pc, po := c.px(), randomColour(r, 0, 1, 0.1, 1).px()
		period := r.Uniform(3, 10)
		sin, cos := math.Sincos(r.Uniform(0, math.Pi))
		for _, rn := range m.runs {
			off := int(rn.y) * img.Stride
			for x := int(rn.x0); x < int(rn.x1); x++ {
				u := (float64(x)*cos + float64(rn.y)*sin) / period
				col := pc
				if u-math.Floor(u) >= 0.5 {
					col = po
				}
				setPix(img.Pix, off+4*x, col)
			}
		}
	}
}

// meanUnder is the mean colour of the pixels of m.
func meanUnder(img *image.RGBA, m mask) rgb {
	var s [3]int
	n := 0
	for _, rn := range m.runs {
		off := int(rn.y) * img.Stride
		for x := int(rn.x0); x < int(rn.x1); x++ {
			p := img.Pix[off+4*x:]
			s[0] += int(p[0])
			s[1] += int(p[1])
			s[2] += int(p[2])
			n++
		}
	}
	if n == 0 {
		return rgb{}
	}
	return rgb{float64(s[0]) / float64(n), float64(s[1]) / float64(n), float64(s[2]) / float64(n)}
}

// addNoise adds uniform noise in [-amp, amp] to every channel of every pixel.
func addNoise(img *image.RGBA, r *rng.SplitMix64, amp float64) {
	a := int(amp)
	if a <= 0 {
		return
	}
	span := uint64(2*a + 1)
	w, h := img.Rect.Dx(), img.Rect.Dy()
	for y := 0; y < h; y++ {
		p := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < len(p); x += 4 {
			v := r.Uint64()
			for ch := 0; ch < 3; ch++ {
				n := int((v>>(16*ch))&0xffff*span>>16) - a
				q := int(p[x+ch]) + n
				p[x+ch] = uint8(min(max(q, 0), 255))
			}
		}
	}
}
