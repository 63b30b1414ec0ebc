package transform

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
)

// Image8 is an 8-bit image as decoders produce it: pixel (x, y) has its red, green and
// blue values at Pix[y*Stride+x*PixelBytes:][:3]; PixelBytes is 3 (RGB) or 4 (RGBA, the
// fourth byte alpha, which Input8 requires to be 255 on every pixel it reads).
type Image8 struct {
	Pix        []uint8
	W, H       int
	Stride     int
	PixelBytes int
}

// RGBA8 is the Image8 of m's pixels (4 bytes per pixel, alpha premultiplied), as
// internal/jpeg decodes them; it shares m's memory.
func RGBA8(m *image.RGBA) Image8 {
	b := m.Rect
	return Image8{Pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], W: b.Dx(), H: b.Dy(), Stride: m.Stride, PixelBytes: 4}
}

// valid reports whether the fields describe an image Pix holds.
func (m Image8) valid() bool {
	if m.W <= 0 || m.H <= 0 || (m.PixelBytes != 3 && m.PixelBytes != 4) || m.Stride < m.W*m.PixelBytes {
		return false
	}
	return len(m.Pix) >= (m.H-1)*m.Stride+m.W*m.PixelBytes
}

// Input8 is implemented by test-time transforms that can make the network's input straight
// from an 8-bit image, without the float32 HWC Sample: Input8 returns the C*H*W values
// (three planes) that Apply followed by a channel-first layout gives for the same image
// converted to a Sample, bit for bit, and false when it cannot (the transform is
// configured otherwise, img is not a valid Image8, or a pixel it reads is not opaque: a
// Sample holds colours with the alpha undone, which the bytes of a premultiplied
// translucent pixel are not). Inference uses it to skip the conversions to and from
// float32 that Apply's interface needs. The values are written over dst when it has the
// capacity (every one of them is written: dst's old contents do not matter), so that a
// caller can reuse its buffers; otherwise, or with dst nil, into a new slice.
type Input8 interface {
	Input8(img Image8, dst []float32) (chw []float32, ok bool)
}

// Input8 resizes like Apply with uint8 set (the reference's cv2.resize of the decoded
// 8-bit image), reading img's bytes directly, and writes the normalised planes.
func (t *testTransform) Input8(img Image8, dst []float32) ([]float32, bool) {
	if !t.cfg.Uint8 || !img.valid() {
		return nil, false
	}
	size := t.cfg.Size
	rz := newResizer(img.W, img.H, size, size)
	// Every tap of a whole image falls on it (positions beyond the edges use the edge
	// column): each output column's two source pixels (byte offsets) and fixed-point
	// weights, side by side.
	pb := img.PixelBytes
	type hTap8 struct {
		o0, o1 int
		w0, w1 int32
	}
	ia := rz.fixedWeights()
	taps := make([]hTap8, size)
	for dx, t := range rz.xt {
		taps[dx] = hTap8{o0: t.i0 * pb, o1: t.i1 * pb, w0: ia[2*dx], w1: ia[2*dx+1]}
	}
	// The horizontal pass of source row j: 3 interleaved values per output column. With
	// 4 bytes per pixel it also ANDs the alpha of every pixel it reads into alpha: only
	// these pixels make the output, so they alone need to be opaque (checked at the end,
	// instead of a scan of the whole image beforehand).
	alpha := uint8(0xff)
	fill := func(j int, dst []int32) {
		p := img.Pix[j*img.Stride : j*img.Stride+img.W*pb]
		dst = dst[:3*len(taps)]
		for dx, t := range taps {
			a, b := p[t.o0:t.o0+pb:t.o0+pb], p[t.o1:t.o1+pb:t.o1+pb]
			d := dst[3*dx : 3*dx+3 : 3*dx+3]
			d[0] = int32(a[0])*t.w0 + int32(b[0])*t.w1
			d[1] = int32(a[1])*t.w0 + int32(b[1])*t.w1
			d[2] = int32(a[2])*t.w0 + int32(b[2])*t.w1
			if pb == 4 {
				alpha &= a[3] & b[3]
			}
		}
	}
	lut := &t.lut
	n := size * size
	out := dst[:0]
	if cap(out) < 3*n {
		out = make([]float32, 3*n)
	}
	out = out[:3*n]
	cache := newRowCache[int32](3 * size)
	// The vertical pass (fixedRows' fixedBlend) and the normalisation, one output row at a
	// time, straight into the three planes.
	for dy, yt := range rz.yt {
		r0, r1 := cache.rows(yt, fill)
		b0, b1 := fixedWeight(yt.w0), fixedWeight(yt.w1)
		r := out[dy*size : (dy+1)*size]
		g := out[n+dy*size : n+(dy+1)*size]
		b := out[2*n+dy*size : 2*n+(dy+1)*size]
		g, b = g[:len(r)], b[:len(r)]
		r0, r1 = r0[:3*len(r)], r1[:3*len(r)]
		for x := range r {
			u, v := r0[3*x:3*x+3:3*x+3], r1[3*x:3*x+3:3*x+3]
			q0, q1, q2 := fixedBlend(b0, b1, u[0], v[0]), fixedBlend(b0, b1, u[1], v[1]), fixedBlend(b0, b1, u[2], v[2])
			if uint32(q0|q1|q2) > 255 { // not reached with OpenCV's weights; kept exact
				r[x], g[x], b[x] = t.norm.value(0, float32(q0)), t.norm.value(1, float32(q1)), t.norm.value(2, float32(q2))
				continue
			}
			// each q is in [0, 255] here: as bytes, the table lookups need no bounds checks
			r[x], g[x], b[x] = lut[0][uint8(q0)], lut[1][uint8(q1)], lut[2][uint8(q2)]
		}
	}
	if alpha != 0xff {
		return nil, false
	}
	return out, true
}

// Input8 of a chain is its step's when the chain has exactly one step that has Input8
// (the test transform built as a chain); otherwise it declines.
func (c Chain) Input8(img Image8, dst []float32) ([]float32, bool) {
	if len(c) == 1 {
		if in, ok := c[0].(Input8); ok {
			return in.Input8(img, dst)
		}
	}
	return nil, false
}

// Apply8 is implemented by training transforms that can start from an 8-bit image instead
// of a float32 Sample. Apply8(s, img, rng) does what Apply does to s with s.Image holding
// img's pixels as float32 — each pixel's colour with the alpha undone, as
// color.NRGBAModel converts it (what the loader's FromImage makes of a decoded image) —
// bit for bit, drawing the same random numbers; s.Image is ignored and replaced, and s.W
// and s.H must be img's size. It converts only the pixels the transform reads. ok is false,
// with s and rng untouched, when the transform cannot (img is not a valid Image8, or the
// transform is a chain whose first step has no Apply8).
type Apply8 interface {
	Apply8(s *Sample, img Image8, rng *rand.Rand) (ok bool, err error)
}

// Apply8 of a chain is its first step's Apply8 followed by the other steps' Apply.
func (c Chain) Apply8(s *Sample, img Image8, rng *rand.Rand) (bool, error) {
	if len(c) == 0 {
		return false, nil
	}
	first, ok := c[0].(Apply8)
	if !ok {
		return false, nil
	}
	if ok, err := first.Apply8(s, img, rng); !ok || err != nil {
		if err != nil {
			err = fmt.Errorf("transform step 0: %w", err)
		}
		return ok, err
	}
	for i, t := range c[1:] {
		if err := t.Apply(s, rng); err != nil {
			return true, fmt.Errorf("transform step %d: %w", i+1, err)
		}
	}
	return true, nil
}

// floatRun writes the pixels x0 <= x < x1 of row y of m into dst (the float32 RGB row of
// the whole image): opaque pixels as their bytes, translucent ones (4 bytes per pixel,
// alpha premultiplied) with the alpha undone as color.NRGBAModel does.
func (m *Image8) floatRun(y, x0, x1 int, dst []float32) {
	pb := m.PixelBytes
	src := m.Pix[y*m.Stride+x0*pb : y*m.Stride+x1*pb]
	out := dst[3*x0 : 3*x1]
	if pb == 3 {
		for i := range x1 - x0 {
			p := src[3*i : 3*i+3 : 3*i+3]
			o := out[3*i : 3*i+3 : 3*i+3]
			o[0], o[1], o[2] = float32(p[0]), float32(p[1]), float32(p[2])
		}
		return
	}
	for i := range x1 - x0 {
		p := src[4*i : 4*i+4 : 4*i+4]
		o := out[3*i : 3*i+3 : 3*i+3]
		if p[3] == 0xff {
			o[0], o[1], o[2] = float32(p[0]), float32(p[1]), float32(p[2])
			continue
		}
		c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
		o[0], o[1], o[2] = float32(c.R), float32(c.G), float32(c.B)
	}
}
