package transform

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ssdrunner/ssdrunner/registry"
)

// TestInput8EqualsApply: the "test" transform's 8-bit path gives, bit for bit, what Apply
// gives on the same image as a float32 Sample, laid out channel-first: downscales (the
// VOC-sized 500x375 included), upscales, the exact 2x reduction OpenCV treats apart, odd
// and tiny sizes, RGB and RGBA rows with padding, a power-of-two std (multiplication) and
// another (division). Exact equality is right: both paths compute the same integers
// (OpenCV's fixed-point resize) and then the same float32 expression of each.
func TestInput8EqualsApply(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	norms := []TestConfig{
		{Size: 300, Mean: []float64{127, 127, 127}, Std: []float64{128}, Uint8: true},
		{Size: 64, Mean: []float64{123, 117, 104}, Std: []float64{58.4, 57.1, 57.4}, Uint8: true},
	}
	sizes := [][2]int{{500, 375}, {375, 500}, {600, 600}, {128, 128}, {129, 77}, {1, 1}, {2, 3}, {300, 300}, {37, 301}}
	for _, cfg := range norms {
		tr, err := Build(refOf("test", map[string]any{"size": cfg.Size, "mean": cfg.Mean, "std": cfg.Std}))
		if err != nil {
			t.Fatal(err)
		}
		in, ok := tr.(Input8)
		if !ok {
			t.Fatalf("the test transform does not implement Input8")
		}
		// Each call after the first writes over the last one's result, poisoned with NaN:
		// a value Input8 does not write shows (the NaN fails the comparison below).
		var dirty []float32
		for _, wh := range sizes {
			for _, pb := range []int{3, 4} {
				for i := range dirty {
					dirty[i] = float32(math.NaN())
				}
				w, h := wh[0], wh[1]
				pix, stride := randomPix(r, w, h, pb)
				// a few flat areas and extremes, where rounding edges show
				for i := 0; i < len(pix)/4; i++ {
					pix[i] = []uint8{0, 255, 128}[i%3]
				}
				if pb == 4 { // opaque (Input8 declines translucent pixels: TestInput8Alpha)
					for y := range h {
						for x := range w {
							pix[y*stride+4*x+3] = 255
						}
					}
				}
				got, ok := in.Input8(Image8{Pix: pix, W: w, H: h, Stride: stride, PixelBytes: pb}, dirty)
				if !ok {
					t.Fatalf("%dx%d: Input8 refused a valid image", w, h)
				}
				if cap(dirty) >= len(got) && &dirty[:1][0] != &got[:1][0] {
					t.Fatalf("%dx%d: Input8 allocated although dst had room", w, h)
				}
				dirty = got
				s := &Sample{ID: "x", W: w, H: h, Image: make([]float32, 3*w*h)}
				for y := range h {
					for x := range w {
						for c := range 3 {
							s.Image[3*(y*w+x)+c] = float32(pix[y*stride+x*pb+c])
						}
					}
				}
				if err := tr.Apply(s, nil); err != nil {
					t.Fatal(err)
				}
				n := s.W * s.H
				if len(got) != 3*n {
					t.Fatalf("%dx%d: %d values, want %d", w, h, len(got), 3*n)
				}
				for p := range n {
					for c := range 3 {
						want := s.Image[3*p+c]
						if g := got[c*n+p]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("%dx%d (%d bytes per pixel, size %d): plane %d pixel %d: %v, Apply gives %v", w, h, pb, cfg.Size, c, p, g, want)
						}
					}
				}
			}
		}
	}
}

// TestInput8Alpha: with 4 bytes per pixel, Input8 declines an image when a pixel it reads
// is translucent (its bytes are premultiplied, and Apply's Sample holds the colours with
// the alpha undone), and answers when the translucent pixel is one no output reads: a
// 3x reduction reads source columns and rows 3d+1 and 3d+2, never 0.
func TestInput8Alpha(t *testing.T) {
	tr, err := Build(refOf("test", map[string]any{"size": 100}))
	if err != nil {
		t.Fatal(err)
	}
	in := tr.(Input8)
	const w, h = 300, 300
	opaque := func() []uint8 {
		pix := make([]uint8, 4*w*h)
		for i := range pix {
			pix[i] = uint8(i * 7)
			if i%4 == 3 {
				pix[i] = 255
			}
		}
		return pix
	}
	for _, c := range []struct {
		name string
		x, y int
		want bool
	}{
		{"all opaque", -1, -1, true},
		{"translucent pixel read", 151, 152, false},
		{"translucent pixel read, last column", w - 1, 4, false},
		{"translucent pixel never read", 0, 0, true},
	} {
		pix := opaque()
		if c.x >= 0 {
			pix[4*(c.y*w+c.x)+3] = 128
		}
		if _, ok := in.Input8(Image8{Pix: pix, W: w, H: h, Stride: 4 * w, PixelBytes: 4}, nil); ok != c.want {
			t.Errorf("%s: Input8 answered %v, want %v", c.name, ok, c.want)
		}
	}
}

// TestInput8Refuses: the float32 resize and images whose fields do not fit their bytes
// are left to Apply.
func TestInput8Refuses(t *testing.T) {
	tr, err := Build(refOf("test", map[string]any{"uint8": false}))
	if err != nil {
		t.Fatal(err)
	}
	img := Image8{Pix: make([]uint8, 4*4*3), W: 4, H: 4, Stride: 12, PixelBytes: 3}
	if _, ok := tr.(Input8).Input8(img, nil); ok {
		t.Error("uint8 = false: Input8 answered")
	}
	tr, err = Build(refOf("test", nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Image8{
		{Pix: make([]uint8, 47), W: 4, H: 4, Stride: 12, PixelBytes: 3},
		{Pix: make([]uint8, 48), W: 4, H: 4, Stride: 11, PixelBytes: 3},
		{Pix: make([]uint8, 48), W: 4, H: 4, Stride: 12, PixelBytes: 2},
		{Pix: nil, W: 0, H: 4, Stride: 12, PixelBytes: 3},
	} {
		if _, ok := tr.(Input8).Input8(bad, nil); ok {
			t.Errorf("%+v: Input8 answered", bad)
		}
	}
	if _, ok := tr.(Input8).Input8(img, nil); !ok {
		t.Error("a valid image refused")
	}
}

// TestInput8Chain: a chain of the test transform alone answers as the transform does;
// a longer chain declines.
func TestInput8Chain(t *testing.T) {
	one, err := BuildChain([]registry.Ref{refOf("test", nil)})
	if err != nil {
		t.Fatal(err)
	}
	two, err := BuildChain([]registry.Ref{refOf("test", nil), refOf("none", nil)})
	if err != nil {
		t.Fatal(err)
	}
	img := Image8{Pix: make([]uint8, 4*4*3), W: 4, H: 4, Stride: 12, PixelBytes: 3}
	if got, ok := one.(Input8).Input8(img, nil); !ok || len(got) != 3*300*300 {
		t.Errorf("a chain of the test transform: ok %v, %d values", ok, len(got))
	}
	if _, ok := two.(Input8).Input8(img, nil); ok {
		t.Error("a chain of two steps answered")
	}
}
