// Package jpeg decodes JPEG files with libjpeg-turbo (its TurboJPEG API, Debian's
// libturbojpeg0-dev), the library that OpenCV's cv2.imread uses, so that the pixels equal
// those the reference reads: libjpeg's defaults (accurate integer IDCT, fancy chroma
// upsampling), colour JPEGs converted to RGB, CMYK and YCCK JPEGs converted with OpenCV's
// own CMYK formula (image/jpeg's pixels differ from libjpeg's: its IDCT and colour
// conversion round otherwise, and it replicates 4:2:0 chroma where libjpeg interpolates,
// moving pixels by several levels). It takes about a third of the CPU time of the standard library's
// image/jpeg. It links libturbojpeg with cgo (third_party/gotch-compat/setup.sh installs it).
//
// Decode returns the stored pixel grid, as image/jpeg does; cv2.imread also turns the
// image upright as its EXIF orientation tag says, which Orientation and Orient do (read
// the way OpenCV reads them, checked against cv2.imread). Unlike cv2.imread, Decode
// treats libjpeg's warnings (a truncated file, corrupt entropy-coded data, …) as errors,
// where OpenCV prints the warning and returns what it could decode, grey where data is
// missing. The one warning accepted is extraneous bytes before the end-of-image marker,
// which image/jpeg and OpenCV both accept and which leaves every pixel decoded.
//
// Every call uses its own decompressor, so the functions are safe for concurrent use.
package jpeg

import (
	"bytes"
	"fmt"
	"image"
)

// ColorSpace is the colour space of a JPEG image's components.
type ColorSpace int

// The colour spaces libjpeg recognises.
const (
	RGB   ColorSpace = iota // three components stored as RGB (Adobe transform 0)
	YCbCr                   // the usual colour JPEG
	Gray                    // one component
	CMYK                    // four components, stored as CMYK
	YCCK                    // four components, C, M and Y transformed like YCbCr
)

var colorSpaceNames = [...]string{"RGB", "YCbCr", "gray", "CMYK", "YCCK"}

func (c ColorSpace) String() string {
	if c >= 0 && int(c) < len(colorSpaceNames) {
		return colorSpaceNames[c]
	}
	return fmt.Sprintf("ColorSpace(%d)", int(c))
}

// Header is what a JPEG file's header says about its image.
type Header struct {
	Width, Height int
	ColorSpace    ColorSpace
}

// IsJPEG reports whether data starts with a JPEG start-of-image marker, the two bytes by
// which libjpeg and the standard library's image.Decode recognise a JPEG file.
func IsJPEG(data []byte) bool { return bytes.HasPrefix(data, []byte{0xff, 0xd8}) }

// Error is a decoding failure; Name is the name the caller gave for the data (usually the
// file's path) and Msg libjpeg's message.
type Error struct {
	Name string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("jpeg %s: %s", e.Name, e.Msg) }

// DecodeHeader reads the header of the JPEG image in data (up to the first scan) and
// returns its size and colour space. name only labels errors.
func DecodeHeader(name string, data []byte) (Header, error) {
	if len(data) == 0 {
		return Header{}, &Error{name, "empty data"}
	}
	w, h, cs, msg := header(data)
	if msg != "" {
		return Header{}, &Error{name, msg}
	}
	return Header{Width: w, Height: h, ColorSpace: cs}, nil
}

// Decode decodes the JPEG image in data. A one-component (grey) image comes back as an
// *image.Gray; every other one as an opaque *image.RGBA holding its RGB pixels (CMYK and
// YCCK images converted as OpenCV converts them). maxPixels > 0 bounds the image's area:
// larger images are refused before any pixel memory is allocated. name only labels errors.
func Decode(name string, data []byte, maxPixels int64) (image.Image, error) {
	return DecodeInto(name, data, maxPixels, nil)
}

// DecodeInto is Decode that decodes an RGBA image into pix's memory when pix has the
// capacity (4 bytes per pixel, rows packed), so that a caller decoding many images can
// reuse their buffers; the returned image then shares pix. Every byte of the image is
// written on success: pix's old contents do not matter. pix is not used for grey images.
func DecodeInto(name string, data []byte, maxPixels int64, pix []byte) (image.Image, error) {
	hd, err := DecodeHeader(name, data)
	if err != nil {
		return nil, err
	}
	w, h := hd.Width, hd.Height
	if maxPixels > 0 && int64(w)*int64(h) > maxPixels {
		return nil, &Error{name, fmt.Sprintf("image of %dx%d pixels is larger than the limit of %d", w, h, maxPixels)}
	}
	r := image.Rect(0, 0, w, h)
	switch hd.ColorSpace {
	case Gray:
		img := image.NewGray(r)
		if msg := decode(data, img.Pix, w, img.Stride, h, pixelGray); msg != "" {
			return nil, &Error{name, msg}
		}
		return img, nil
	case CMYK, YCCK:
		img := newRGBA(r, pix)
		if msg := decode(data, img.Pix, w, img.Stride, h, pixelCMYK); msg != "" {
			return nil, &Error{name, msg}
		}
		cmykToRGBA(img.Pix)
		return img, nil
	default:
		img := newRGBA(r, pix)
		if msg := decode(data, img.Pix, w, img.Stride, h, pixelRGBA); msg != "" {
			return nil, &Error{name, msg}
		}
		return img, nil
	}
}

// newRGBA returns an RGBA image of r in pix's memory when pix is large enough, else a new one.
func newRGBA(r image.Rectangle, pix []byte) *image.RGBA {
	if n := 4 * r.Dx() * r.Dy(); cap(pix) >= n {
		return &image.RGBA{Pix: pix[:n], Stride: 4 * r.Dx(), Rect: r}
	}
	return image.NewRGBA(r)
}

// cmykToRGBA converts libjpeg's CMYK output (as stored by Adobe applications: inverted, 255
// meaning no ink) to opaque RGBA in place, with OpenCV's integer formula (its
// icvCvt_CMYK2BGR_8u_C4C3R): R = K - ((255-C)*K >> 8), likewise G from M and B from Y.
func cmykToRGBA(pix []byte) {
	for i := 0; i+4 <= len(pix); i += 4 {
		p := pix[i : i+4 : i+4]
		k := int(p[3])
		p[0] = uint8(k - (255-int(p[0]))*k>>8)
		p[1] = uint8(k - (255-int(p[1]))*k>>8)
		p[2] = uint8(k - (255-int(p[2]))*k>>8)
		p[3] = 0xff
	}
}
