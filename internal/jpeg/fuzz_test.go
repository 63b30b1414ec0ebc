package jpeg

import (
	"errors"
	"image"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to DecodeHeader and Decode: they must return an image or
// an *Error naming the input, never crash, and a decoded image must have the header's size.
// The seeds are the fixtures, whole and cut short.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures(f) {
		data := readFixture(f, name)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.jpg"
		hd, herr := DecodeHeader(name, data)
		img, err := Decode(name, data, 1<<20)
		for _, e := range []error{herr, err} {
			var je *Error
			if e != nil && (!errors.As(e, &je) || je.Name != name || je.Msg == "") {
				t.Fatalf("error %v is not an *Error naming the input", e)
			}
		}
		if err != nil {
			return
		}
		if herr != nil {
			t.Fatalf("Decode succeeded where DecodeHeader failed: %v", herr)
		}
		if img.Bounds() != image.Rect(0, 0, hd.Width, hd.Height) {
			t.Fatalf("decoded %v, header %+v", img.Bounds(), hd)
		}
		if _, gray := img.(*image.Gray); gray != (hd.ColorSpace == Gray) {
			t.Fatalf("decoded %T for a %v image", img, hd.ColorSpace)
		}
	})
}
