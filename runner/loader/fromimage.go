package loader

import (
	"image"
	"image/color"

	"github.com/ssdrunner/ssdrunner/components/dataset"
	"github.com/ssdrunner/ssdrunner/components/transform"
)

// FromImage converts a decoded image and its objects into a transform.Sample, the input of
// the transform chain: float32 RGB values 0..255 in HWC order, boxes and labels copied from
// objs (all of them, difficult ones too).
//
// Pixels are the image's colours with alpha dropped, as cv2.imread(IMREAD_COLOR), which the
// reference uses, reads them: color.NRGBAModel's conversion of each pixel (for an opaque
// pixel that is At(x, y).RGBA() >> 8). *image.YCbCr (what image/jpeg decodes), *image.RGBA,
// *image.NRGBA and *image.Gray are converted directly, with the standard library's own
// formulas (color.YCbCrToRGB for JPEG), so the values equal the generic path's.
func FromImage(id string, img image.Image, objs []dataset.Object) *transform.Sample {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	px := make([]float32, w*h*3)
	switch m := img.(type) {
	case *image.YCbCr:
		fromYCbCr(px, m)
	case *image.RGBA:
		fromRGBA(px, m)
	case *image.NRGBA:
		fromNRGBA(px, m)
	case *image.Gray:
		fromGray(px, m)
	default:
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				px[i], px[i+1], px[i+2] = float32(c.R), float32(c.G), float32(c.B)
				i += 3
			}
		}
	}
	s := objectsSample(id, w, h, objs)
	s.Image = px
	return s
}

// objectsSample is the Sample of a w x h image and its objects, without pixels.
func objectsSample(id string, w, h int, objs []dataset.Object) *transform.Sample {
	s := &transform.Sample{ID: id, W: w, H: h, Boxes: make([][4]float32, len(objs)), Labels: make([]int, len(objs))}
	for i, o := range objs {
		s.Boxes[i] = [4]float32{float32(o.Box[0]), float32(o.Box[1]), float32(o.Box[2]), float32(o.Box[3])}
		s.Labels[i] = o.Label
	}
	return s
}

// byteFloat[v] is float32(v).
var byteFloat = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i)
	}
	return t
}()

// clampByte clamps to [0, 255].
func clampByte(v int32) uint8 { return uint8(min(max(v, 0), 255)) }

// chromaShifts returns log2 of the horizontal and vertical chroma subsampling factors.
func chromaShifts(r image.YCbCrSubsampleRatio) (hs, vs uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}

func fromYCbCr(px []float32, m *image.YCbCr) {
	b := m.Rect
	hs, vs, ok := chromaShifts(m.SubsampleRatio)
	// Shifts equal COffset's divisions for non-negative coordinates only.
	fast := ok && b.Min.X >= 0 && b.Min.Y >= 0
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[m.YOffset(b.Min.X, y):][:b.Dx()]
		if !fast {
			for x := b.Min.X; x < b.Max.X; x++ {
				ci := m.COffset(x, y)
				r, g, bb := color.YCbCrToRGB(yrow[x-b.Min.X], m.Cb[ci], m.Cr[ci])
				px[i], px[i+1], px[i+2] = float32(r), float32(g), float32(bb)
				i += 3
			}
			continue
		}
		// The offsets image.YCbCr.COffset computes, row by row.
		c0 := ((y>>vs)-(b.Min.Y>>vs))*m.CStride - (b.Min.X >> hs)
		out := px[i : i+3*len(yrow)]
		for k, yy := range yrow {
			ci := c0 + (b.Min.X+k)>>hs
			// color.YCbCrToRGB's integer formula (the JFIF conversion with 16-bit fixed-point
			// factors and its rounding), written out here to be inlined; the tests check it
			// against color.YCbCrToRGB for every input.
			yy1 := int32(yy) * 0x10101
			cb1, cr1 := int32(m.Cb[ci])-128, int32(m.Cr[ci])-128
			o := out[3*k : 3*k+3 : 3*k+3]
			o[0] = byteFloat[clampByte((yy1+91881*cr1)>>16)]
			o[1] = byteFloat[clampByte((yy1-22554*cb1-46802*cr1)>>16)]
			o[2] = byteFloat[clampByte((yy1+116130*cb1)>>16)]
		}
		i += 3 * len(yrow)
	}
}

func fromRGBA(px []float32, m *image.RGBA) {
	b := m.Rect
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			p := row[4*x : 4*x+4 : 4*x+4]
			if p[3] == 0xff {
				px[i], px[i+1], px[i+2] = byteFloat[p[0]], byteFloat[p[1]], byteFloat[p[2]]
			} else { // premultiplied: undo as color.NRGBAModel does
				c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
				px[i], px[i+1], px[i+2] = float32(c.R), float32(c.G), float32(c.B)
			}
			i += 3
		}
	}
}

func fromNRGBA(px []float32, m *image.NRGBA) {
	b := m.Rect
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			px[i], px[i+1], px[i+2] = byteFloat[row[4*x]], byteFloat[row[4*x+1]], byteFloat[row[4*x+2]]
			i += 3
		}
	}
}

func fromGray(px []float32, m *image.Gray) {
	b := m.Rect
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y):]
		for x := 0; x < b.Dx(); x++ {
			v := byteFloat[row[x]]
			px[i], px[i+1], px[i+2] = v, v, v
			i += 3
		}
	}
}
