package transform

import (
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// bytesOf returns the float32 HWC image px as an Image8 of pb bytes per pixel (alpha 255),
// and whether every value is a byte.
func bytesOf(px []float32, w, h, pb int) (Image8, bool) {
	m := Image8{Pix: make([]uint8, w*h*pb), W: w, H: h, Stride: w * pb, PixelBytes: pb}
	for p := range w * h {
		for c := range 3 {
			v := px[3*p+c]
			if v != float32(math.Trunc(float64(v))) || v < 0 || v > 255 {
				return m, false
			}
			m.Pix[pb*p+c] = uint8(v)
		}
		if pb == 4 {
			m.Pix[pb*p+3] = 255
		}
	}
	return m, true
}

// randomPix returns the random bytes of a w x h image of pb bytes per pixel whose rows
// have a random padding, and its stride.
func randomPix(r *rand.Rand, w, h, pb int) ([]uint8, int) {
	stride := w*pb + r.IntN(5)
	pix := make([]uint8, stride*h)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	return pix, stride
}

// poisoned returns n NaNs: a scratch image for apply's 8-bit path in which any pixel read
// without being converted first makes NaNs in the output.
func poisoned(n int) []float32 {
	px := make([]float32, n)
	for i := range px {
		px[i] = float32(math.NaN())
	}
	return px
}

// TestApply8EqualsApply: the "ssd" augmentation from an 8-bit image (Apply8, converting
// only the pixels the resize reads) gives, bit for bit, the image, boxes and labels that
// Apply gives on the same pixels as a float32 Sample, with the same random numbers: random
// images of several sizes (VOC's, upscaled ones, tiny ones), RGB and RGBA rows with
// padding, translucent pixels (their alpha undone as color.NRGBAModel does), 40 draws of
// the augmentation each. Exact equality is right: the same float32 operations run on the
// same values. The 8-bit path's scratch image starts as NaNs, so a pixel the resize reads
// without converting it first shows; and the public Apply8 (pooled scratch images, one
// sample after another of the same size) must agree too, through a chain.
func TestApply8EqualsApply(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := DefaultSSD()
	tr := newSSD(&cfg)
	chain := Chain{newSSD(&cfg), identity{}}
	sizes := [][2]int{{500, 375}, {375, 500}, {120, 90}, {7, 5}, {1, 1}, {600, 301}}
	for _, wh := range sizes {
		for _, pb := range []int{3, 4} {
			w, h := wh[0], wh[1]
			pix, stride := randomPix(r, w, h, pb)
			px := make([]float32, 3*w*h)
			translucent := 0
			for y := range h {
				for x := range w {
					p := pix[y*stride+x*pb:]
					if pb == 4 {
						if r.IntN(50) != 0 {
							p[3] = 255
						} else { // premultiplied: no colour above the alpha
							translucent++
							for c := range 3 {
								p[c] = min(p[c], p[3])
							}
						}
						c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
						copy(px[3*(y*w+x):], []float32{float32(c.R), float32(c.G), float32(c.B)})
						continue
					}
					copy(px[3*(y*w+x):], []float32{float32(p[0]), float32(p[1]), float32(p[2])})
				}
			}
			img := Image8{Pix: pix, W: w, H: h, Stride: stride, PixelBytes: pb}
			for k := range 40 {
				boxes := [][4]float32{{0, 0, float32(w), float32(h)},
					{float32(w) * 0.1, float32(h) * 0.2, float32(w) * 0.6, float32(h) * 0.9}}
				labels := []int{1 + k%3, 2}
				seed := uint64(k)
				want := &Sample{ID: "x", Image: append([]float32(nil), px...), W: w, H: h,
					Boxes: append([][4]float32(nil), boxes...), Labels: append([]int(nil), labels...)}
				if err := tr.Apply(want, rand.New(rand.NewPCG(seed, 9))); err != nil {
					t.Fatal(err)
				}
				got := &Sample{ID: "x", Image: poisoned(3 * w * h), W: w, H: h,
					Boxes: append([][4]float32(nil), boxes...), Labels: append([]int(nil), labels...)}
				if err := tr.apply(got, rand.New(rand.NewPCG(seed, 9)), &img); err != nil {
					t.Fatal(err)
				}
				pub := &Sample{ID: "x", W: w, H: h, Boxes: append([][4]float32(nil), boxes...), Labels: append([]int(nil), labels...)}
				if ok, err := chain.Apply8(pub, img, rand.New(rand.NewPCG(seed, 9))); !ok || err != nil {
					t.Fatalf("Apply8 of a chain: %v, %v", ok, err)
				}
				for _, c := range []struct {
					name string
					s    *Sample
				}{{"8-bit path", got}, {"Apply8", pub}} {
					if _, _, n := compare(t, c.name, c.s.Image, want.Image); n > 0 || c.s.W != want.W || c.s.H != want.H {
						t.Fatalf("%dx%d, %d bytes per pixel (%d translucent), draw %d: %s: %d of %d values differ (%dx%d)",
							w, h, pb, translucent, k, c.name, n, len(want.Image), c.s.W, c.s.H)
					}
					if len(c.s.Boxes) != len(want.Boxes) {
						t.Fatalf("draw %d: %s: %d boxes, want %d", k, c.name, len(c.s.Boxes), len(want.Boxes))
					}
					for j := range want.Boxes {
						if c.s.Boxes[j] != want.Boxes[j] || c.s.Labels[j] != want.Labels[j] {
							t.Fatalf("draw %d: %s: box %d %v (label %d), want %v (%d)", k, c.name, j, c.s.Boxes[j], c.s.Labels[j], want.Boxes[j], want.Labels[j])
						}
					}
				}
			}
		}
	}
}

// TestApply8Declines: an invalid Image8 or a chain whose first step has no Apply8 is
// declined before any random number is drawn; a sample whose size is not the image's is an
// error naming it.
func TestApply8Declines(t *testing.T) {
	cfg := DefaultSSD()
	img := Image8{Pix: make([]uint8, 4*10*10), W: 10, H: 10, Stride: 40, PixelBytes: 4}
	rng := rand.New(rand.NewPCG(1, 1))
	peek := *rand.New(rand.NewPCG(1, 1))
	for name, c := range map[string]struct {
		tr  Apply8
		img Image8
	}{
		"short pixels":     {newSSD(&cfg), Image8{Pix: make([]uint8, 10), W: 10, H: 10, Stride: 40, PixelBytes: 4}},
		"2 bytes a pixel":  {newSSD(&cfg), Image8{Pix: make([]uint8, 400), W: 10, H: 10, Stride: 20, PixelBytes: 2}},
		"first step plain": {Chain{identity{}, newSSD(&cfg)}, img},
		"empty chain":      {Chain{}, img},
	} {
		s := &Sample{ID: "x", W: 10, H: 10}
		if ok, err := c.tr.Apply8(s, c.img, rng); ok || err != nil {
			t.Errorf("%s: Apply8 = %v, %v; want declined", name, ok, err)
		}
	}
	if rng.Uint64() != peek.Uint64() {
		t.Error("a declined Apply8 drew random numbers")
	}
	s := &Sample{ID: "img7", W: 12, H: 10}
	if ok, err := newSSD(&cfg).Apply8(s, img, rng); !ok || err == nil {
		t.Errorf("a 12x10 sample of a 10x10 image: %v, %v; want an error", ok, err)
	} else if want := `image "img7": the sample is 12x10, its 8-bit image 10x10`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
