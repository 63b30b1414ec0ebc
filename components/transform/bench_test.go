package transform

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
)

// vocLike returns a 500x375 image with smooth colour content (like a photo) and three boxes.
func vocLike() *Sample {
	const w, h = 500, 375
	s := &Sample{ID: "bench", W: w, H: h, Image: make([]float32, w*h*3),
		Boxes: [][4]float32{{40, 60, 200, 300}, {220, 30, 480, 200}, {150, 180, 330, 370}}, Labels: []int{3, 7, 12}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := (y*w + x) * 3
			s.Image[i] = float32((x*255/w + y/3) % 256)
			s.Image[i+1] = float32((y * 255 / h) % 256)
			s.Image[i+2] = float32((x + y) % 256)
		}
	}
	return s
}

func benchTransform(b *testing.B, tr Transform) { benchSample(b, tr, vocLike()) }

// benchSample applies tr to fresh copies of src; it reports the wall time per sample and
// the CPU time of the benchmark's thread per sample (cpu-ms/op).
func benchSample(b *testing.B, tr Transform, src *Sample) {
	s := &Sample{}
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, len(src.Image))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		copy(img, src.Image)
		*s = Sample{ID: src.ID, Image: img, W: src.W, H: src.H,
			Boxes: append([][4]float32(nil), src.Boxes...), Labels: append([]int(nil), src.Labels...)}
		b.StartTimer()
		c0 := threadCPU()
		if err := tr.Apply(s, rng); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - c0
	}
	b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
}

// BenchmarkSSDChain is the full "ssd" augmentation of a VOC-sized (500x375) image to 300x300.
func BenchmarkSSDChain(b *testing.B) {
	c := DefaultSSD()
	benchTransform(b, newSSD(&c))
}

// BenchmarkSSDSteps is the same augmentation as a chain of the individual steps, which
// build every intermediate image.
func BenchmarkSSDSteps(b *testing.B) {
	benchTransform(b, stepsChain(b, DefaultSSD()))
}

// BenchmarkTestTransform is the "test" preset (8-bit resize) of a 500x375 image.
func BenchmarkTestTransform(b *testing.B) {
	tr, err := Build(refOf("test", nil))
	if err != nil {
		b.Fatal(err)
	}
	benchTransform(b, tr)
}

// BenchmarkTestTransformInput8 is the same "test" preset through Input8: the decoded
// RGBA bytes of the same 500x375 image straight to the normalised planes (what prediction
// does with a JPEG), against BenchmarkTestTransform's float32 Sample (which leaves out
// making that Sample and laying its output out channel-first).
func BenchmarkTestTransformInput8(b *testing.B) {
	tr, err := Build(refOf("test", nil))
	if err != nil {
		b.Fatal(err)
	}
	src := vocLike()
	img := Image8{Pix: make([]uint8, 4*src.W*src.H), W: src.W, H: src.H, Stride: 4 * src.W, PixelBytes: 4}
	for p := range src.W * src.H {
		for c := range 3 {
			img.Pix[4*p+c] = uint8(src.Image[3*p+c])
		}
		img.Pix[4*p+3] = 255
	}
	in := tr.(Input8)
	benchSample(b, applyFunc(func(*Sample, *rand.Rand) error {
		if _, ok := in.Input8(img, nil); !ok {
			return errors.New("Input8 refused the image")
		}
		return nil
	}), src)
}

// applyFunc is a function as a Transform.
type applyFunc func(*Sample, *rand.Rand) error

func (f applyFunc) Apply(s *Sample, r *rand.Rand) error { return f(s, r) }
