package jpeg

import (
	"encoding/binary"
	"image"
)

// Orientation returns the EXIF orientation of the JPEG image in data, 1 (stored as it is
// seen) to 8, the way OpenCV's imread finds it: the body of the first APP1 segment before
// the first scan, past its 6-byte "Exif\0\0" header, read as TIFF ("II" little-endian,
// anything else big-endian; the mark 42 required), and the value of the first
// Orientation entry (tag 0x0112) of IFD0. It returns 1 when there is no such entry, when
// the structure runs past the segment before that entry, or for a value outside 1 to 8.
// data may be a prefix of the file that holds its first segments.
func Orientation(data []byte) int {
	if !IsJPEG(data) {
		return 1
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xff {
			return 1
		}
		m := data[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0x01 || (m >= 0xd0 && m <= 0xd8): // markers without a length
			i += 2
			continue
		case m == 0xda || m == 0xd9: // start of scan, end of image: no more header
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		if m == 0xe1 {
			if seg := data[i+4 : i+2+n]; len(seg) > 6 {
				return tiffOrientation(seg[6:])
			}
			return 1
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads the Orientation entry of IFD0 in a TIFF structure (the body of
// an EXIF segment), or returns 1. Like OpenCV's ExifReader it reads the entries in order
// and stops at the first it cannot read: a string or rational entry whose data lies
// outside t before the Orientation entry hides it; one after it does not.
func tiffOrientation(t []byte) int {
	r := tiffReader{t: t, bo: binary.BigEndian}
	if len(t) >= 2 && t[0] == 'I' && t[1] == 'I' {
		r.bo = binary.LittleEndian
	}
	if mark, ok := r.u16(2); !ok || mark != 42 {
		return 1
	}
	off, ok := r.u32(4)
	if !ok {
		return 1
	}
	count, ok := r.u16(off)
	if !ok {
		return 1
	}
	for e := uint64(0); e < count; e++ {
		p := off + 2 + 12*e
		tag, ok := r.u16(p)
		if !ok {
			return 1
		}
		switch tag {
		case 0x0112: // Orientation: the first two bytes of the value, whatever the type
			if v, ok := r.u16(p + 8); ok && v >= 1 && v <= 8 {
				return int(v)
			}
			return 1
		case 0x010e, 0x010f, 0x0110, 0x0131, 0x0132, 0x8298: // strings
			if !r.stringFits(p) {
				return 1
			}
		case 0x011a, 0x011b: // one rational
			if !r.rationalsFit(p, 1) {
				return 1
			}
		case 0x013e: // white point
			if !r.rationalsFit(p, 2) {
				return 1
			}
		case 0x013f, 0x0214: // primary chromaticities, reference black and white
			if !r.rationalsFit(p, 6) {
				return 1
			}
		case 0x0211: // YCbCr coefficients
			if !r.rationalsFit(p, 3) {
				return 1
			}
		case 0x0128, 0x0213: // resolution unit, YCbCr positioning: a SHORT value
			if _, ok := r.u16(p + 8); !ok {
				return 1
			}
		}
	}
	return 1
}

// tiffReader reads numbers of a TIFF structure, reporting reads past its end.
type tiffReader struct {
	t  []byte
	bo binary.ByteOrder
}

func (r tiffReader) u16(off uint64) (uint64, bool) {
	if off+2 > uint64(len(r.t)) {
		return 0, false
	}
	return uint64(r.bo.Uint16(r.t[off:])), true
}

func (r tiffReader) u32(off uint64) (uint64, bool) {
	if off+4 > uint64(len(r.t)) {
		return 0, false
	}
	return uint64(r.bo.Uint32(r.t[off:])), true
}

// stringFits reports whether the string of the entry at p can be read as OpenCV reads
// it: count bytes from offset 8 of the structure when they fit in the value field, else
// from the offset the value field holds.
func (r tiffReader) stringFits(p uint64) bool {
	size, ok := r.u32(p + 4)
	if !ok {
		return false
	}
	at := uint64(8)
	if size > 4 {
		if at, ok = r.u32(p + 8); !ok {
			return false
		}
	}
	return at <= uint64(len(r.t)) && at+size <= uint64(len(r.t))
}

// rationalsFit reports whether n rationals (two 32-bit numbers each) at the offset held
// by the entry at p lie inside the structure.
func (r tiffReader) rationalsFit(p uint64, n int) bool {
	at, ok := r.u32(p + 8)
	if !ok {
		return false
	}
	_, ok = r.u32(at + 8*uint64(n) - 4)
	return ok
}

// Oriented returns the size of an image of width w and height h once turned upright for
// orientation o: swapped for 5 to 8, the orientations that transpose.
func Oriented(w, h, o int) (int, int) {
	if o >= 5 && o <= 8 {
		return h, w
	}
	return w, h
}

// Orient returns img turned upright for EXIF orientation o, as cv2.imread does (flips for
// 2 to 4; a transpose, then the same flips, for 5 to 8); img itself for 1 or an unknown
// value. It handles the *image.RGBA and *image.Gray that Decode returns, and returns any
// other image unchanged.
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	switch src := img.(type) {
	case *image.RGBA:
		dst := image.NewRGBA(orientedRect(src.Rect, o))
		orientPixels(src.Pix, src.Stride, src.Rect.Dx(), src.Rect.Dy(), dst.Pix, dst.Stride, 4, o)
		return dst
	case *image.Gray:
		dst := image.NewGray(orientedRect(src.Rect, o))
		orientPixels(src.Pix, src.Stride, src.Rect.Dx(), src.Rect.Dy(), dst.Pix, dst.Stride, 1, o)
		return dst
	}
	return img
}

func orientedRect(r image.Rectangle, o int) image.Rectangle {
	w, h := Oriented(r.Dx(), r.Dy(), o)
	return image.Rect(0, 0, w, h)
}

// orientPixels writes into dst (the upright image, bpp bytes a pixel) the pixels of src
// (w×h) for orientation o. For each output pixel (x, y) of the W×H output it reads the
// source pixel (sx, sy):
//
//	2: (W-1-x, y)      3: (W-1-x, H-1-y)      4: (x, H-1-y)
//	5: (y, x)          6: (y, W-1-x)          7: (H-1-y, W-1-x)      8: (H-1-y, x)
func orientPixels(src []byte, sstride, w, h int, dst []byte, dstride, bpp, o int) {
	W, H := Oriented(w, h, o)
	for y := 0; y < H; y++ {
		row := dst[y*dstride : y*dstride+W*bpp]
		for x := 0; x < W; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = W-1-x, y
			case 3:
				sx, sy = W-1-x, H-1-y
			case 4:
				sx, sy = x, H-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, W-1-x
			case 7:
				sx, sy = H-1-y, W-1-x
			case 8:
				sx, sy = H-1-y, x
			}
			s := sy*sstride + sx*bpp
			copy(row[x*bpp:x*bpp+bpp], src[s:s+bpp])
		}
	}
}
