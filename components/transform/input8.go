package transform

// Image8 is an 8-bit image as decoders produce it: pixel (x, y) has its red, green and
// blue values at Pix[y*Stride+x*PixelBytes:][:3]; PixelBytes is 3 (RGB) or 4 (RGBA, the
// fourth byte ignored: the caller vouches that the image is opaque).
type Image8 struct {
	Pix        []uint8
	W, H       int
	Stride     int
	PixelBytes int
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
// configured otherwise, or img is not a valid Image8). Inference uses it to skip the
// conversions to and from float32 that Apply's interface needs.
type Input8 interface {
	Input8(img Image8) (chw []float32, ok bool)
}

// Input8 resizes like Apply with uint8 set (the reference's cv2.resize of the decoded
// 8-bit image), reading img's bytes directly, and writes the normalised planes.
func (t *testTransform) Input8(img Image8) ([]float32, bool) {
	if !t.cfg.Uint8 || !img.valid() {
		return nil, false
	}
	size := t.cfg.Size
	rz := newResizer(img.W, img.H, size, size)
	// Every tap of a whole image falls on it (positions beyond the edges use the edge
	// column): byte offsets of each output column's two source pixels.
	pb := img.PixelBytes
	offs := make([]int, 2*size)
	for dx, t := range rz.xt {
		offs[2*dx], offs[2*dx+1] = t.i0*pb, t.i1*pb
	}
	ia := rz.fixedWeights()
	fill := func(j int, dst []int32) {
		p := img.Pix[j*img.Stride : j*img.Stride+img.W*pb]
		dst = dst[:3*size]
		for dx := range size {
			o0, o1 := offs[2*dx], offs[2*dx+1]
			a, b := p[o0:o0+3:o0+3], p[o1:o1+3:o1+3]
			w0, w1 := ia[2*dx], ia[2*dx+1]
			d := dst[3*dx : 3*dx+3 : 3*dx+3]
			d[0] = int32(a[0])*w0 + int32(b[0])*w1
			d[1] = int32(a[1])*w0 + int32(b[1])*w1
			d[2] = int32(a[2])*w0 + int32(b[2])*w1
		}
	}
	lut := &t.lut
	n := size * size
	out := make([]float32, 3*n)
	planes := [3][]float32{out[:n:n], out[n : 2*n : 2*n], out[2*n:]}
	rz.fixedRows(fill, func(dy int, vals []int32) {
		r, g, b := planes[0][dy*size:(dy+1)*size], planes[1][dy*size:(dy+1)*size], planes[2][dy*size:(dy+1)*size]
		vals = vals[:3*size]
		for x := range r {
			q := vals[3*x : 3*x+3 : 3*x+3]
			q0, q1, q2 := q[0], q[1], q[2]
			if uint32(q0|q1|q2) > 255 { // not reached with OpenCV's weights; kept exact
				r[x], g[x], b[x] = t.norm.value(0, float32(q0)), t.norm.value(1, float32(q1)), t.norm.value(2, float32(q2))
				continue
			}
			r[x], g[x], b[x] = lut[0][q0], lut[1][q1], lut[2][q2]
		}
	})
	return out, true
}

// Input8 of a chain is its step's when the chain has exactly one step that has Input8
// (the test transform built as a chain); otherwise it declines.
func (c Chain) Input8(img Image8) ([]float32, bool) {
	if len(c) == 1 {
		if in, ok := c[0].(Input8); ok {
			return in.Input8(img)
		}
	}
	return nil, false
}
