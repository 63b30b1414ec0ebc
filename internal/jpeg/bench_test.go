package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
)

// vocSizedJPEG is a 500×375 picture (the usual size of a Pascal VOC image): smooth
// gradients, textures and mild noise, JPEG-encoded at quality 90 with 4:2:0 chroma, as
// most photos are.
func vocSizedJPEG(tb testing.TB) []byte {
	tb.Helper()
	const w, h = 500, 375
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			v := [3]float64{
				120 + 90*math.Sin(fx/23)*math.Cos(fy/31),
				255 * fx / w,
				128 + 100*math.Sin((fx+fy)/9),
			}
			if (x/40+y/40)%3 == 0 {
				v[0], v[2] = v[2], 255-v[0]
			}
			for c := range v {
				img.Pix[img.PixOffset(x, y)+c] = uint8(min(max(v[c]+rng.NormFloat64()*6, 0), 255))
			}
			img.Pix[img.PixOffset(x, y)+3] = 0xff
		}
	}
	var b bytes.Buffer
	if err := stdjpeg.Encode(&b, img, &stdjpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkDecodeVOCSized decodes a 500×375 JPEG with the standard library and with
// libjpeg-turbo, side by side.
func BenchmarkDecodeVOCSized(b *testing.B) {
	data := vocSizedJPEG(b)
	b.Logf("%d-byte JPEG", len(data))
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/image")
	})
	b.Run("turbo", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Decode("voc.jpg", data, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/image")
	})
}

// TestVOCSizedMatchesHeader is a quick check of the benchmark's input.
func TestVOCSizedMatchesHeader(t *testing.T) {
	hd, err := DecodeHeader("voc.jpg", vocSizedJPEG(t))
	if err != nil || hd != (Header{Width: 500, Height: 375, ColorSpace: YCbCr}) {
		t.Errorf("%+v, %v", hd, err)
	}
}
