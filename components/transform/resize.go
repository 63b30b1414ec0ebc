package transform

import "math"

// Resizing follows OpenCV's cv2.resize with INTER_LINEAR, which the reference uses: output
// pixel d samples the source at (d + 0.5) * src/dst - 0.5 (pixel centres, like torch's
// align_corners=False). Its details are kept because they change values:
//   - horizontally, positions left of the first or right of the last source column use
//     that column alone (weights 1, 0); vertically, the row indices are clamped but the
//     weights are kept (so a border value v becomes v*(1-f) + v*f, not always v bit for bit);
//   - an exact 2x reduction in both directions is INTER_AREA's 2x2 mean;
//   - float32 images are interpolated in float32 (horizontal pass, then vertical);
//   - 8-bit images use 11-bit fixed-point weights and OpenCV's rounding.
// The results equal OpenCV 4.6's bit for bit (see the golden tests).

// tap is one output coordinate's two source indices and weights.
type tap struct {
	i0, i1 int
	w0, w1 float32
}

// cvScale is OpenCV's scale: the inverse of the inverse scale, both in float64.
func cvScale(src, dst int) float64 { return 1 / (float64(dst) / float64(src)) }

// cvPos returns OpenCV's source index and fraction of output coordinate d.
func cvPos(d int, scale float64) (int, float32) {
	f := float32((float64(d)+0.5)*scale - 0.5)
	s := int(math.Floor(float64(f)))
	return s, f - float32(s)
}

// xTaps are OpenCV's horizontal coefficients.
func xTaps(src, dst int) []tap {
	scale := cvScale(src, dst)
	t := make([]tap, dst)
	for d := range t {
		s, f := cvPos(d, scale)
		if s < 0 {
			s, f = 0, 0
		}
		if s >= src-1 {
			s, f = src-1, 0
		}
		t[d] = tap{i0: s, i1: min(s+1, src-1), w0: 1 - f, w1: f}
	}
	return t
}

// yTaps are OpenCV's vertical coefficients: rows clamped, weights kept.
func yTaps(src, dst int) []tap {
	scale := cvScale(src, dst)
	t := make([]tap, dst)
	for d := range t {
		s, f := cvPos(d, scale)
		t[d] = tap{i0: min(max(s, 0), src-1), i1: min(max(s+1, 0), src-1), w0: 1 - f, w1: f}
	}
	return t
}

// isArea2x reports whether OpenCV turns this INTER_LINEAR resize into INTER_AREA.
func isArea2x(sw, sh, dw, dh int) bool {
	sx, sy := cvScale(sw, dw), cvScale(sh, dh)
	return math.Abs(sx-2) < 0x1p-52 && math.Abs(sy-2) < 0x1p-52
}

// resizer resizes views of one size to one output size.
type resizer struct {
	ow, oh int
	area   bool
	xt, yt []tap
}

func newResizer(vw, vh, ow, oh int) *resizer {
	return &resizer{ow: ow, oh: oh, area: isArea2x(vw, vh, ow, oh), xt: xTaps(vw, ow), yt: yTaps(vh, oh)}
}

// markSource sets cols[sx] and rows[sy] for every source pixel the resize reads.
func (rz *resizer) markSource(v *view, cols, rows []bool) {
	mark := func(marks []bool, i int) {
		if i >= 0 {
			marks[i] = true
		}
	}
	if rz.area {
		for i := 0; i < 2*rz.ow; i++ {
			mark(cols, v.col(i))
		}
		for j := 0; j < 2*rz.oh; j++ {
			mark(rows, v.row(j))
		}
		return
	}
	for _, t := range rz.xt {
		mark(cols, v.col(t.i0))
		mark(cols, v.col(t.i1))
	}
	for _, t := range rz.yt {
		mark(rows, v.row(t.i0))
		mark(rows, v.row(t.i1))
	}
}

// hTap is one output column's two taps: source offsets (x*3, -1 on the fill) and weights.
type hTap struct {
	o0, o1 int
	w0, w1 float32
}

// hTaps maps the horizontal taps through the view. inside is the range of output columns
// whose taps both fall on the source (one range: the fill can only be on either side).
func (rz *resizer) hTaps(v *view) (taps []hTap, inside [2]int) {
	taps = make([]hTap, rz.ow)
	inside = [2]int{rz.ow, rz.ow}
	for dx, t := range rz.xt {
		h := hTap{o0: -1, o1: -1, w0: t.w0, w1: t.w1}
		if c := v.col(t.i0); c >= 0 {
			h.o0 = 3 * c
		}
		if c := v.col(t.i1); c >= 0 {
			h.o1 = 3 * c
		}
		taps[dx] = h
		if h.o0 >= 0 && h.o1 >= 0 {
			if inside[0] == rz.ow {
				inside[0] = dx
			}
			inside[1] = dx + 1
		}
	}
	return taps, inside
}

// hpass interpolates view row j horizontally into dst (ow*3 values).
func hpass(v *view, j int, taps []hTap, inside [2]int, dst []float32) {
	row := v.sourceRow(j)
	lo, hi := inside[0], inside[1]
	if row == nil {
		lo, hi = len(taps), len(taps)
	}
	edge := func(dx int) {
		t := taps[dx]
		a0, a1, a2 := v.pixel(row, t.o0)
		b0, b1, b2 := v.pixel(row, t.o1)
		d := dst[3*dx : 3*dx+3 : 3*dx+3]
		d[0] = float32(a0*t.w0) + float32(b0*t.w1)
		d[1] = float32(a1*t.w0) + float32(b1*t.w1)
		d[2] = float32(a2*t.w0) + float32(b2*t.w1)
	}
	for dx := 0; dx < min(lo, len(taps)); dx++ {
		edge(dx)
	}
	for dx := lo; dx < hi; dx++ {
		t := &taps[dx]
		a := row[t.o0 : t.o0+3 : t.o0+3]
		b := row[t.o1 : t.o1+3 : t.o1+3]
		d := dst[3*dx : 3*dx+3 : 3*dx+3]
		d[0] = float32(a[0]*t.w0) + float32(b[0]*t.w1)
		d[1] = float32(a[1]*t.w0) + float32(b[1]*t.w1)
		d[2] = float32(a[2]*t.w0) + float32(b[2]*t.w1)
	}
	for dx := max(hi, lo); dx < len(taps); dx++ {
		edge(dx)
	}
}

// vpass combines two interpolated rows into an output row, normalising it with norm
// (nil: none).
func vpass(r0, r1, o []float32, w0, w1 float32, norm *affine) {
	if norm == nil {
		for k := range o {
			o[k] = float32(r0[k]*w0) + float32(r1[k]*w1)
		}
		return
	}
	m0, m1, m2 := norm.mean[0], norm.mean[1], norm.mean[2]
	r0, r1 = r0[:len(o)], r1[:len(o)]
	if inv, ok := norm.recip(); ok {
		for k := 0; k+2 < len(o); k += 3 {
			o[k] = (float32(r0[k]*w0) + float32(r1[k]*w1) - m0) * inv[0]
			o[k+1] = (float32(r0[k+1]*w0) + float32(r1[k+1]*w1) - m1) * inv[1]
			o[k+2] = (float32(r0[k+2]*w0) + float32(r1[k+2]*w1) - m2) * inv[2]
		}
		return
	}
	s0, s1, s2 := norm.std[0], norm.std[1], norm.std[2]
	for k := 0; k+2 < len(o); k += 3 {
		o[k] = (float32(r0[k]*w0) + float32(r1[k]*w1) - m0) / s0
		o[k+1] = (float32(r0[k+1]*w0) + float32(r1[k+1]*w1) - m1) / s1
		o[k+2] = (float32(r0[k+2]*w0) + float32(r1[k+2]*w1) - m2) / s2
	}
}

// rowCache holds the two most recent horizontally interpolated rows.
type rowCache[T any] struct {
	buf [2][]T
	idx [2]int
}

func newRowCache[T any](n int) *rowCache[T] {
	return &rowCache[T]{buf: [2][]T{make([]T, n), make([]T, n)}, idx: [2]int{-1, -1}}
}

// rows returns the interpolated view rows t.i0 and t.i1, computing those it lacks with
// fill; consecutive output rows share their source rows, as in OpenCV.
func (c *rowCache[T]) rows(t tap, fill func(j int, dst []T)) (r0, r1 []T) {
	if c.idx[0] != t.i0 {
		if c.idx[1] == t.i0 {
			c.buf[0], c.buf[1], c.idx[0], c.idx[1] = c.buf[1], c.buf[0], c.idx[1], c.idx[0]
		} else {
			fill(t.i0, c.buf[0])
			c.idx[0] = t.i0
		}
	}
	if t.i1 == t.i0 {
		return c.buf[0], c.buf[0]
	}
	if c.idx[1] != t.i1 {
		fill(t.i1, c.buf[1])
		c.idx[1] = t.i1
	}
	return c.buf[0], c.buf[1]
}

// float resizes a float32 view (cv2.resize of a float32 image), normalising the output
// with norm when it is not nil.
func (rz *resizer) float(v *view, norm *affine) []float32 {
	out := make([]float32, rz.ow*rz.oh*3)
	if rz.area {
		rz.area2x(v, out)
		if norm != nil {
			norm.apply(out)
		}
		return out
	}
	taps, inside := rz.hTaps(v)
	n := rz.ow * 3
	cache := newRowCache[float32](n)
	fill := func(j int, dst []float32) { hpass(v, j, taps, inside, dst) }
	for dy, t := range rz.yt {
		r0, r1 := cache.rows(t, fill)
		vpass(r0, r1, out[dy*n:(dy+1)*n], t.w0, t.w1, norm)
	}
	return out
}

// area2x is OpenCV's INTER_AREA for an exact 2x reduction: the mean of each 2x2 block,
// summed in row order.
func (rz *resizer) area2x(v *view, out []float32) {
	for dy := 0; dy < rz.oh; dy++ {
		r0, r1 := v.sourceRow(2*dy), v.sourceRow(2*dy+1)
		for dx := 0; dx < rz.ow; dx++ {
			c0, c1 := v.col(2*dx), v.col(2*dx+1)
			o0, o1 := 3*c0, 3*c1
			if c0 < 0 {
				o0 = -1
			}
			if c1 < 0 {
				o1 = -1
			}
			a0, a1, a2 := v.pixel(r0, o0)
			b0, b1, b2 := v.pixel(r0, o1)
			c0v, c1v, c2v := v.pixel(r1, o0)
			d0, d1, d2 := v.pixel(r1, o1)
			k := (dy*rz.ow + dx) * 3
			out[k] = (a0 + b0 + c0v + d0) * 0.25
			out[k+1] = (a1 + b1 + c1v + d1) * 0.25
			out[k+2] = (a2 + b2 + c2v + d2) * 0.25
		}
	}
}

// toU8 is OpenCV's saturate_cast<uchar>(float): round half to even, then clamp.
func toU8(f float32) int32 {
	if i := int32(f); float32(i) == f && i >= 0 && i <= 255 { // the usual case: a byte value
		return i
	}
	r := math.RoundToEven(float64(f))
	return int32(min(max(r, 0), 255))
}

// fixedWeight is OpenCV's saturate_cast<short>(w * 2048).
func fixedWeight(w float32) int32 {
	return int32(min(max(math.RoundToEven(float64(w*2048)), math.MinInt16), math.MaxInt16))
}

// uint8 resizes the view as cv2.resize resizes an 8-bit image: the values are first
// converted to 8 bits (rounded, clamped), the output is 8-bit (returned as float32, then
// normalised with norm when it is not nil). An exact 2x reduction needs no special case:
// OpenCV's fixed-point bilinear result then equals its INTER_AREA result.
func (rz *resizer) uint8(v *view, norm *affine) []float32 {
	out := make([]float32, rz.ow*rz.oh*3)
	taps, _ := rz.hTaps(v)
	ia := rz.fixedWeights()
	fillU8 := [3]int32{toU8(v.fill[0]), toU8(v.fill[1]), toU8(v.fill[2])}
	rowU8 := make([]int32, v.sw*3)
	pixel := func(row []float32, o int) []int32 {
		if row == nil || o < 0 {
			return fillU8[:]
		}
		return rowU8[o : o+3 : o+3]
	}
	fill := func(j int, dst []int32) {
		row := v.sourceRow(j)
		for i, f := range row {
			rowU8[i] = toU8(f)
		}
		for dx, t := range taps {
			a, b := pixel(row, t.o0), pixel(row, t.o1)
			w0, w1 := ia[2*dx], ia[2*dx+1]
			d := dst[3*dx : 3*dx+3 : 3*dx+3]
			d[0] = a[0]*w0 + b[0]*w1
			d[1] = a[1]*w0 + b[1]*w1
			d[2] = a[2]*w0 + b[2]*w1
		}
	}
	n := rz.ow * 3
	rz.fixedRows(fill, func(dy int, vals []int32) {
		o := out[dy*n : (dy+1)*n]
		for k, x := range vals {
			o[k] = float32(x)
		}
		if norm != nil {
			norm.apply(o)
		}
	})
	return out
}

// fixedWeights are the horizontal weights in OpenCV's 11-bit fixed point, two per output
// column.
func (rz *resizer) fixedWeights() []int32 {
	ia := make([]int32, 2*rz.ow)
	for dx, t := range rz.xt {
		ia[2*dx], ia[2*dx+1] = fixedWeight(t.w0), fixedWeight(t.w1)
	}
	return ia
}

// fixedBlend is the vertical interpolation of OpenCV's 8-bit bilinear resize: rows a and
// b (horizontal passes, 11-bit weights) with the vertical weights b0 and b1, rounded back
// to 8 bits as OpenCV's VResizeLinear does.
func fixedBlend(b0, b1, a, b int32) int32 { return ((b0*(a>>4))>>16 + (b1*(b>>4))>>16 + 2) >> 2 }

// fixedRows is the vertical pass of OpenCV's 8-bit bilinear resize: fill writes view row
// j interpolated horizontally (ow*3 values, weighted by fixedWeights), emit receives each
// output row's 8-bit values (interleaved RGB, reused afterwards).
func (rz *resizer) fixedRows(fill func(j int, dst []int32), emit func(dy int, vals []int32)) {
	n := rz.ow * 3
	cache := newRowCache[int32](n)
	vals := make([]int32, n)
	for dy, t := range rz.yt {
		r0, r1 := cache.rows(t, fill)
		b0, b1 := fixedWeight(t.w0), fixedWeight(t.w1)
		r0, r1 = r0[:n], r1[:n]
		for k := range vals {
			vals[k] = fixedBlend(b0, b1, r0[k], r1[k])
		}
		emit(dy, vals)
	}
}
