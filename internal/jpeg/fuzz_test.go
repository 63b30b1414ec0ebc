package jpeg

import (
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to DecodeHeader and Decode: they must return an image or
// an *Error naming the input, never crash, and a decoded image must have the header's size.
// Orientation must return 1 to 8, and Orient give the size Oriented says. The seeds
// are the fixtures, whole and cut short, and the EXIF fixtures.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures(f) {
		data := readFixture(f, name)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	exif, _ := filepath.Glob(filepath.Join("testdata", "exif_*.jpg"))
	for _, p := range exif {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.jpg"
		o := Orientation(data)
		if o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
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
		w, h := Oriented(hd.Width, hd.Height, o)
		if up := Orient(img, o); up.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("orientation %d: upright %v, want %dx%d", o, up.Bounds(), w, h)
		}
	})
}
