package detect

import (
	"image"
	"image/draw"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/transform"
	"github.com/ssdrunner/ssdrunner/registry"
	"github.com/ssdrunner/ssdrunner/runner/build"
)

// TestPrepareEightBitPath: with the test transform alone or as a chain, an opaque
// *image.RGBA (what internal/jpeg decodes) goes through the test transform's 8-bit path,
// any other image through FromImage and Apply; both give the same network input, bit for bit, for whole images and for sub-images (whose pixels
// start inside a larger buffer). Exact equality is right: both paths compute OpenCV's
// fixed-point resize on the same bytes and the same float32 normalisation.
func TestPrepareEightBitPath(t *testing.T) {
	ref := registry.Ref{Type: "test", Options: map[string]any{"size": 300}}
	tr, err := transform.Build(ref)
	if err != nil {
		t.Fatal(err)
	}
	// experiments with data.transforms get the test transform as a chain of one step
	chain, err := transform.BuildChain([]registry.Ref{ref})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []transform.Transform{tr, chain} {
		checkEightBitPath(t, &Detector{run: &build.Run{ValTransform: tr}, size: 300})
	}
}

func checkEightBitPath(t *testing.T, d *Detector) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	full := image.NewRGBA(image.Rect(0, 0, 517, 389))
	for i := range full.Pix {
		full.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			full.Pix[i] = 255
		}
	}
	for _, m := range []*image.RGBA{full, full.SubImage(image.Rect(11, 7, 511, 382)).(*image.RGBA)} {
		eight, size8, err := d.prepareOne(m)
		if err != nil {
			t.Fatal(err)
		}
		// the same pixels as NRGBA, which only the float path takes
		b := m.Bounds()
		n := image.NewNRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			copy(n.Pix[n.PixOffset(b.Min.X, y):][:4*b.Dx()], m.Pix[m.PixOffset(b.Min.X, y):][:4*b.Dx()])
		}
		float, sizeF, err := d.prepareOne(n)
		if err != nil {
			t.Fatal(err)
		}
		if size8 != sizeF || size8 != [2]int{b.Dx(), b.Dy()} {
			t.Fatalf("%v: sizes %v and %v", b, size8, sizeF)
		}
		if len(eight) != len(float) || len(eight) != 3*300*300 {
			t.Fatalf("%v: %d and %d values", b, len(eight), len(float))
		}
		for i := range eight {
			if math.Float32bits(eight[i]) != math.Float32bits(float[i]) {
				t.Fatalf("%v: value %d: %v from the 8-bit path, %v from the float path", b, i, eight[i], float[i])
			}
		}
	}
	// A row of translucent pixels (some of which the resize reads): the RGBA image goes
	// the float path, which undoes the alpha as the same image converted to NRGBA does.
	m := image.NewRGBA(full.Rect)
	copy(m.Pix, full.Pix)
	for x := range m.Rect.Dx() {
		p := m.Pix[m.PixOffset(x, 194):][:4]
		p[0], p[1], p[2], p[3] = min(p[0], 100), min(p[1], 100), min(p[2], 100), 100 // premultiplied
	}
	n := image.NewNRGBA(m.Rect)
	draw.Draw(n, n.Rect, m, m.Rect.Min, draw.Src)
	got, _, err := d.prepareOne(m)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := d.prepareOne(n)
	if err != nil {
		t.Fatal(err)
	}
	same := true
	for i := range want {
		same = same && math.Float32bits(got[i]) == math.Float32bits(want[i])
	}
	if !same || len(got) != len(want) {
		t.Fatal("an RGBA image with a translucent pixel: not the values of its NRGBA conversion")
	}
}
