package loader

import (
	"image"
	"image/color"
	"image/color/palette"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ssdrunner/ssdrunner/components/dataset"
)

// atRGB is the reference conversion: the pixel's colour with alpha dropped (NRGBA).
func atRGB(img image.Image, x, y int) [3]float32 {
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	return [3]float32{float32(c.R), float32(c.G), float32(c.B)}
}

// checkAgainstAt compares FromImage with the reference conversion pixel by pixel; for
// opaque images it also checks At(x, y).RGBA() >> 8.
func checkAgainstAt(t *testing.T, name string, img image.Image, opaque bool) {
	t.Helper()
	s := FromImage(name, img, nil)
	b := img.Bounds()
	if s.W != b.Dx() || s.H != b.Dy() || len(s.Image) != s.W*s.H*3 {
		t.Fatalf("%s: sample %dx%d with %d values for bounds %v", name, s.W, s.H, len(s.Image), b)
	}
	bad := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			i := ((y-b.Min.Y)*s.W + x - b.Min.X) * 3
			got := [3]float32{s.Image[i], s.Image[i+1], s.Image[i+2]}
			want := atRGB(img, x, y)
			if opaque {
				r, g, bb, _ := img.At(x, y).RGBA()
				if w2 := [3]float32{float32(r >> 8), float32(g >> 8), float32(bb >> 8)}; w2 != want {
					t.Fatalf("%s: reference conversions disagree at (%d,%d): %v %v", name, x, y, want, w2)
				}
			}
			if got != want {
				if bad++; bad <= 3 {
					t.Errorf("%s: pixel (%d,%d) = %v, want %v", name, x, y, got, want)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d pixels differ", name, bad)
	}
}

func randomYCbCr(rng *rand.Rand, r image.Rectangle, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(r, ratio)
	for i := range m.Y {
		m.Y[i] = uint8(rng.IntN(256))
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
	}
	return m
}

func TestFromImageYCbCr(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411,
		image.YCbCrSubsampleRatio410}
	for _, ratio := range ratios {
		m := randomYCbCr(rng, image.Rect(0, 0, 37, 29), ratio)
		checkAgainstAt(t, ratio.String(), m, true)
		// A sub-image at odd offsets (what a decoder never returns, but image.Image allows).
		checkAgainstAt(t, ratio.String()+" sub", m.SubImage(image.Rect(3, 5, 34, 26)), true)
		// Negative coordinates take the generic offset path.
		checkAgainstAt(t, ratio.String()+" negative", randomYCbCr(rng, image.Rect(-7, -3, 13, 10), ratio), true)
	}
}

// TestYCbCrFormulaEveryInput checks the inlined conversion against color.YCbCrToRGB for all
// 2^24 (Y, Cb, Cr) triples.
func TestYCbCrFormulaEveryInput(t *testing.T) {
	if testing.Short() {
		t.Skip("exhaustive")
	}
	m := image.NewYCbCr(image.Rect(0, 0, 256, 256), image.YCbCrSubsampleRatio444)
	for cr := 0; cr < 256; cr++ {
		for y := 0; y < 256; y++ {
			for cb := 0; cb < 256; cb++ {
				i := y*256 + cb
				m.Y[i], m.Cb[i], m.Cr[i] = uint8(y), uint8(cb), uint8(cr)
			}
		}
		s := FromImage("all", m, nil)
		for i := 0; i < 256*256; i++ {
			r, g, b := color.YCbCrToRGB(m.Y[i], m.Cb[i], m.Cr[i])
			if s.Image[3*i] != float32(r) || s.Image[3*i+1] != float32(g) || s.Image[3*i+2] != float32(b) {
				t.Fatalf("Y=%d Cb=%d Cr=%d: got %v, want %d %d %d", m.Y[i], m.Cb[i], m.Cr[i], s.Image[3*i:3*i+3], r, g, b)
			}
		}
	}
}

func TestFromImageOtherTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	r := image.Rect(2, 1, 21, 14)

	rgba := image.NewRGBA(r)
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(rng.IntN(256))
	}
	for i := 3; i < len(rgba.Pix); i += 4 { // opaque, then make some pixels translucent
		rgba.Pix[i] = 255
	}
	checkAgainstAt(t, "RGBA opaque", rgba, true)
	for i := 3; i < len(rgba.Pix); i += 4 * 5 {
		a := uint8(rng.IntN(255))
		rgba.Pix[i] = a
		for c := 1; c <= 3; c++ { // premultiplied: colour <= alpha
			rgba.Pix[i-c] = uint8(rng.IntN(int(a) + 1))
		}
	}
	checkAgainstAt(t, "RGBA translucent", rgba, false)

	nrgba := image.NewNRGBA(r)
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(rng.IntN(256))
	}
	checkAgainstAt(t, "NRGBA", nrgba, false)

	gray := image.NewGray(r)
	for i := range gray.Pix {
		gray.Pix[i] = uint8(rng.IntN(256))
	}
	checkAgainstAt(t, "Gray", gray, true)
	checkAgainstAt(t, "Gray sub", gray.SubImage(image.Rect(5, 3, 17, 12)), true)

	pal := image.NewPaletted(r, palette.Plan9)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(256))
	}
	checkAgainstAt(t, "Paletted (generic path)", pal, true)

	g16 := image.NewGray16(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			g16.SetGray16(x, y, color.Gray16{Y: uint16(rng.IntN(65536))})
		}
	}
	checkAgainstAt(t, "Gray16 (generic path)", g16, true)
}

func TestFromImageObjects(t *testing.T) {
	objs := []dataset.Object{{Box: [4]float64{1, 2, 30.5, 40}, Label: 3}, {Box: [4]float64{0, 0, 9, 9}, Label: 1, Difficult: true}}
	s := FromImage("id7", image.NewGray(image.Rect(0, 0, 50, 60)), objs)
	if s.ID != "id7" || s.W != 50 || s.H != 60 {
		t.Fatalf("sample %q %dx%d", s.ID, s.W, s.H)
	}
	want := [][4]float32{{1, 2, 30.5, 40}, {0, 0, 9, 9}}
	for i := range want {
		if s.Boxes[i] != want[i] || s.Labels[i] != objs[i].Label {
			t.Errorf("object %d: %v %d, want %v %d", i, s.Boxes[i], s.Labels[i], want[i], objs[i].Label)
		}
	}
	if len(s.Image) != s.W*s.H*3 || len(s.Boxes) != len(s.Labels) {
		t.Errorf("inconsistent sample: %d values for %dx%d, %d boxes, %d labels", len(s.Image), s.W, s.H, len(s.Boxes), len(s.Labels))
	}
}

// BenchmarkFromImageYCbCr converts a decoded 500x375 4:2:0 JPEG image.
func BenchmarkFromImageYCbCr(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 500, 375), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = uint8(i * 7)
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i*3), uint8(i*5)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	c0 := threadCPU()
	for range b.N {
		FromImage("bench", m, nil)
	}
	b.ReportMetric(float64(threadCPU()-c0)/1e6/float64(b.N), "cpu-ms/op")
}
