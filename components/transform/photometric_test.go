package transform

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPhotometricStatistics(t *testing.T) {
	c := DefaultPhotometric()
	rng := rand.New(rand.NewPCG(11, 11))
	const n = 20000
	var bright, first, contrast, sat, hue, swapped int
	orders := make([]int, len(channelOrders))
	var minB, maxB, minC, maxC, minS, maxS, minH, maxH float32 = 1e9, -1e9, 1e9, -1e9, 1e9, -1e9, 1e9, -1e9
	for range n {
		p := c.sample(rng)
		if p.doBrightness {
			bright++
			minB, maxB = min(minB, p.brightness), max(maxB, p.brightness)
		}
		if p.contrastFirst {
			first++
		}
		if p.doContrast {
			contrast++
			minC, maxC = min(minC, p.contrast), max(maxC, p.contrast)
		}
		if p.doSaturation {
			sat++
			minS, maxS = min(minS, p.saturation), max(maxS, p.saturation)
		}
		if p.doHue {
			hue++
			minH, maxH = min(minH, p.hue), max(maxH, p.hue)
		}
		if p.swap >= 0 {
			swapped++
			orders[p.swap]++
		}
	}
	for name, k := range map[string]int{"brightness": bright, "contrast first": first, "contrast": contrast,
		"saturation": sat, "hue": hue, "channel swap": swapped} {
		if f := float64(k) / n; math.Abs(f-0.5) > 0.014 { // 4 standard deviations
			t.Errorf("%s: frequency %.3f, want 0.5", name, f)
		}
	}
	for name, r := range map[string][4]float32{"brightness": {minB, maxB, -32, 32}, "contrast": {minC, maxC, 0.5, 1.5},
		"saturation": {minS, maxS, 0.5, 1.5}, "hue": {minH, maxH, -18, 18}} {
		span := r[3] - r[2]
		if r[0] < r[2] || r[1] > r[3] || r[0] > r[2]+0.01*span || r[1] < r[3]-0.01*span {
			t.Errorf("%s drawn in [%g, %g], want [%g, %g] covered", name, r[0], r[1], r[2], r[3])
		}
	}
	if x := chiSquare(orders); x > 20.5 {
		t.Errorf("channel orders %v are not uniform (chi2 %.1f)", orders, x)
	}
}

// randomPhoto is a w x h image of integer values 0..255 with dark and bright areas.
func randomPhoto(rng *rand.Rand, w, h int) *Sample {
	s := &Sample{ID: "photo", W: w, H: h, Image: make([]float32, w*h*3)}
	for i := range s.Image {
		s.Image[i] = float32(rng.IntN(256))
	}
	return s
}

// TestPhotometricRange: the reference does not clip, so values leave [0, 255] (brightness
// below 0, contrast and saturation above 255 and below 0); with clip they stay inside.
func TestPhotometricRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for _, clip := range []bool{false, true} {
		c := DefaultPhotometric()
		c.Clip = clip
		tr := &photometric{cfg: c}
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for range 200 {
			s := randomPhoto(rng, 16, 16)
			if err := tr.Apply(s, rng); err != nil {
				t.Fatal(err)
			}
			for _, v := range s.Image {
				if math.IsNaN(float64(v)) {
					t.Fatal("NaN")
				}
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		t.Logf("clip %v: values in [%g, %g]", clip, lo, hi)
		if clip && (lo < 0 || hi > 255) {
			t.Errorf("clip: values in [%g, %g]", lo, hi)
		}
		if !clip && (lo >= 0 || hi <= 255) {
			t.Errorf("no clip: values stayed in [%g, %g]; the reference leaves [0, 255]", lo, hi)
		}
	}
}

// TestHSVRoundTrip: without saturation or hue change the round trip keeps non-negative
// pixels to float32 rounding, and changes pixels with a negative channel (as OpenCV does).
func TestHSVRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	maxRel := 0.0
	for range 100000 {
		r, g, b := float32(rng.Float64()*400), float32(rng.Float64()*400), float32(rng.Float64()*400)
		r2, g2, b2 := hsvToRGB(rgbToHSV(r, g, b))
		v := float64(max(r, g, b, 1))
		for _, d := range [][2]float32{{r, r2}, {g, g2}, {b, b2}} {
			maxRel = max(maxRel, math.Abs(float64(d[0]-d[1]))/v)
		}
	}
	t.Logf("round trip of non-negative pixels: largest error %.2g of the pixel's value", maxRel)
	if maxRel > 2e-6 {
		t.Errorf("round trip of non-negative pixels off by %g of the value", maxRel)
	}
	// A pixel made negative by brightness: its hue is measured from the least negative
	// channel and the saturation exceeds 1, so the round trip does not give it back.
	r, g, b := hsvToRGB(rgbToHSV(-10, -20, -30))
	if r != -10 || g != 0 || b != 10 {
		t.Errorf("(-10, -20, -30) -> (%g, %g, %g), want OpenCV's (-10, 0, 10)", r, g, b)
	}
	// Pure red: hue 0, saturation 1 (less FLT_EPSILON's share), value 200.
	h, s, v := rgbToHSV(200, 0, 0)
	if h != 0 || s <= 0.999 || v != 200 {
		t.Errorf("red -> %g %g %g", h, s, v)
	}
}
