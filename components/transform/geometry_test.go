package transform

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFlipTwiceIsIdentity(t *testing.T) {
	f := &hflip{cfg: FlipConfig{P: 1}}
	rng := rand.New(rand.NewPCG(1, 2))
	// Mirrored boxes still cover their rectangles.
	s := fixture(123, 97, fixtureBoxes, fixtureLabels)
	if err := f.Apply(s, rng); err != nil {
		t.Fatal(err)
	}
	checkBoxContent(t, "flipped", s)

	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	for i := range src.Image {
		src.Image[i] += float32(i % 13)
	}
	s = cloneSample(src)
	if err := f.Apply(s, rng); err != nil {
		t.Fatal(err)
	}
	if sameSample(s, src) {
		t.Fatal("flip changed nothing")
	}
	if err := f.Apply(s, rng); err != nil {
		t.Fatal(err)
	}
	if !sameSample(s, src) {
		t.Fatal("flipping twice is not the identity")
	}
}

// checkBoxContent checks that every box of a fixture-derived sample covers exactly pixels
// of its label's colour: all pixels inside it have the colour, and it is not empty.
func checkBoxContent(t *testing.T, what string, s *Sample) {
	t.Helper()
	for i, b := range s.Boxes {
		if !(0 <= b[0] && b[0] < b[2] && b[2] <= float32(s.W) && 0 <= b[1] && b[1] < b[3] && b[3] <= float32(s.H)) {
			t.Fatalf("%s: box %v outside the %dx%d image or empty", what, b, s.W, s.H)
		}
		c := labelColour(s.Labels[i])
		for y := int(b[1]); y < int(math.Ceil(float64(b[3]))); y++ {
			for x := int(b[0]); x < int(math.Ceil(float64(b[2]))); x++ {
				p := s.Image[(y*s.W+x)*3:]
				if p[0] != c[0] || p[1] != c[1] || p[2] != c[2] {
					t.Fatalf("%s: box %d (label %d) %v covers pixel (%d,%d) = %v, not its colour %v", what, i, s.Labels[i], b, x, y, p[:3], c)
				}
			}
		}
	}
}

func TestExpandKeepsBoxesOnTheirPixels(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	e := &expand{opts: ExpandOptions{P: 1, MaxRatio: 4}, fill: [3]float32{1, 2, 3}}
	for seed := range uint64(50) {
		s := cloneSample(src)
		if err := e.Apply(s, rand.New(rand.NewPCG(seed, 3))); err != nil {
			t.Fatal(err)
		}
		if s.W < src.W || s.H < src.H || s.W > 4*src.W || s.H > 4*src.H {
			t.Fatalf("seed %d: canvas %dx%d", seed, s.W, s.H)
		}
		checkBoxContent(t, "expanded", s)
		// The ring of pixels just outside each box is not its colour (background or fill).
		for i, b := range s.Boxes {
			c := labelColour(s.Labels[i])
			for _, p := range [][2]int{{int(b[0]) - 1, int(b[1])}, {int(b[2]), int(b[1])}, {int(b[0]), int(b[1]) - 1}, {int(b[0]), int(b[3])}} {
				if p[0] < 0 || p[1] < 0 || p[0] >= s.W || p[1] >= s.H {
					continue
				}
				q := s.Image[(p[1]*s.W+p[0])*3:]
				if q[0] == c[0] && q[1] == c[1] && q[2] == c[2] {
					t.Fatalf("seed %d: box %v is not tight: pixel %v has its colour", seed, b, p)
				}
			}
		}
		// Outside the image the canvas is the fill colour.
		if s.W > src.W && !slices.Equal(s.Image[:3], []float32{1, 2, 3}) && !slices.Equal(s.Image[len(s.Image)-3:], []float32{1, 2, 3}) {
			t.Fatalf("seed %d: no fill in a corner of the canvas", seed)
		}
	}
}

func TestCropKeepsBoxesOnTheirPixels(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	for _, cfg := range []CropConfig{DefaultCrop(), func() CropConfig { c := DefaultCrop(); c.ReferenceBug = true; return c }()} {
		cr := &minIoUCrop{cfg: cfg}
		cropped := 0
		for seed := range uint64(300) {
			s := cloneSample(src)
			if err := cr.Apply(s, rand.New(rand.NewPCG(seed, 4))); err != nil {
				t.Fatal(err)
			}
			if s.W != src.W || s.H != src.H {
				cropped++
			}
			if len(s.Boxes) == 0 || len(s.Boxes) != len(s.Labels) {
				t.Fatalf("seed %d: %d boxes, %d labels", seed, len(s.Boxes), len(s.Labels))
			}
			checkBoxContent(t, "cropped", s)
		}
		if cropped < 100 {
			t.Errorf("reference_bug %v: only %d of 300 samples cropped", cfg.ReferenceBug, cropped)
		}
	}
}

// TestSSDBoxesFollowTheirObjects runs the whole geometric chain (no photometric change, no
// normalisation) and checks that each output box is inside the image and has its object's
// colour at its centre.
func TestSSDBoxesFollowTheirObjects(t *testing.T) {
	src := fixture(123, 97, fixtureBoxes, fixtureLabels)
	c := DefaultSSD()
	c.Photometric.P, c.Photometric.ChannelSwap = 0, false
	c.Mean, c.Std = []float64{0}, []float64{1}
	tr := newSSD(&c)
	checked := 0
	for seed := range uint64(300) {
		s := cloneSample(src)
		if err := tr.Apply(s, rand.New(rand.NewPCG(seed, 5))); err != nil {
			t.Fatal(err)
		}
		if s.W != 300 || s.H != 300 || len(s.Boxes) != len(s.Labels) || len(s.Boxes) == 0 {
			t.Fatalf("seed %d: %dx%d, %d boxes, %d labels", seed, s.W, s.H, len(s.Boxes), len(s.Labels))
		}
		for i, b := range s.Boxes {
			if !(0 <= b[0] && b[0] < b[2] && b[2] <= 300 && 0 <= b[1] && b[1] < b[3] && b[3] <= 300) {
				t.Fatalf("seed %d: box %v", seed, b)
			}
			if b[2]-b[0] < 6 || b[3]-b[1] < 6 { // too small to have an uninterpolated centre
				continue
			}
			x, y := int((b[0]+b[2])/2), int((b[1]+b[3])/2)
			p, want := s.Image[(y*300+x)*3:], labelColour(s.Labels[i])
			for k := range 3 {
				if math.Abs(float64(p[k]-want[k])) > 1e-3 {
					t.Fatalf("seed %d: box %d %v (label %d): centre pixel %v, want %v", seed, i, b, s.Labels[i], p[:3], want)
				}
			}
			checked++
		}
	}
	if checked < 300 {
		t.Errorf("only %d boxes checked", checked)
	}
}

func TestCropIoUConstraint(t *testing.T) {
	boxes := [][4]float32{{10, 12, 60, 70}, {70, 5, 118, 40}, {40, 30, 90, 80}}
	labels := []int{1, 2, 3}
	for _, mode := range []string{"all", "any", "reference_bug"} {
		c := DefaultCrop()
		c.MinIoUs = []float64{0.1, 0.3, 0.5, 0.7, 0.9}
		switch mode {
		case "any":
			c.Constraint = "any"
		case "reference_bug":
			c.ReferenceBug = true
		}
		modes := c.modes()
		rng := rand.New(rand.NewPCG(7, 7))
		crops, violations := 0, 0
		for range 4000 {
			p := c.sample(rng, 123, 97, boxes, labels)
			if !p.apply {
				continue
			}
			crops++
			m := modes[p.mode].minIoU
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, b := range boxes {
				v := iou(b, p.x0, p.y0, p.x1, p.y1)
				lo, hi = min(lo, v), max(hi, v)
			}
			ok := lo >= m
			if mode == "any" {
				ok = hi >= m
			}
			if !ok {
				violations++
			}
		}
		t.Logf("%s: %d crops, %d below their mode's minimum IoU", mode, crops, violations)
		if crops < 1000 {
			t.Errorf("%s: only %d crops", mode, crops)
		}
		if mode != "reference_bug" && violations > 0 {
			t.Errorf("%s: %d crops violate the IoU constraint", mode, violations)
		}
		if mode == "reference_bug" && violations < crops/10 {
			t.Errorf("reference_bug: only %d of %d crops violate the constraint; the reference ignores it", violations, crops)
		}
	}
}

// recorder wraps a random source and records the integer draws below n.
type recorder struct {
	*rand.Rand
	n    int
	seen []int
}

func (r *recorder) IntN(n int) int {
	v := r.Rand.IntN(n)
	if n == r.n {
		r.seen = append(r.seen, v)
	}
	return v
}

// chiSquare is the statistic of counts against a uniform distribution.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	e := float64(total) / float64(len(counts))
	x := 0.0
	for _, c := range counts {
		x += (float64(c) - e) * (float64(c) - e) / e
	}
	return x
}

func TestCropModeFrequencies(t *testing.T) {
	c := DefaultCrop()
	modes := c.modes() // whole image, 0.1, 0.3, 0.7, 0.9, random patch
	r := &recorder{Rand: rand.New(rand.NewPCG(8, 8)), n: len(modes)}
	final := make([]int, len(modes))
	for range 20000 {
		p := c.sample(r, 123, 97, fixtureBoxes, fixtureLabels)
		final[p.mode]++
	}
	counts := make([]int, len(modes))
	for _, v := range r.seen {
		counts[v]++
	}
	// 5 degrees of freedom: P(chi2 > 20.5) = 0.001.
	if x := chiSquare(counts); x > 20.5 {
		t.Errorf("mode choices %v are not uniform (chi2 %.1f)", counts, x)
	}
	t.Logf("modes drawn %v (chi2 %.1f); modes that produced the sample %v", counts, chiSquare(counts), final)
	// The whole-image mode ends every round it is drawn in: at least 1/6 of the samples.
	if final[0] < 20000/6-300 {
		t.Errorf("whole image kept in %d of 20000 samples", final[0])
	}
	// With one object every IoU mode can succeed (0.9 rarely: the crop must nearly equal the
	// object's box).
	one := make([]int, len(modes))
	for range 20000 {
		one[c.sample(r, 123, 97, fixtureBoxes[:1], fixtureLabels[:1]).mode]++
	}
	t.Logf("one object: modes that produced the sample %v", one)
	for i, k := range one {
		if k == 0 {
			t.Errorf("one object: mode %d never produced a sample", i)
		}
	}
}

func TestCropOffsets(t *testing.T) {
	for _, reference := range []bool{true, false} {
		c := DefaultCrop()
		c.ReferenceOffsets = reference
		rng := rand.New(rand.NewPCG(9, 9))
		minX := math.MaxInt
		for range 3000 {
			p := c.sample(rng, 123, 97, fixtureBoxes, fixtureLabels)
			if p.apply && p.x1-p.x0 < 120 {
				minX = min(minX, p.x0)
			}
		}
		if reference && minX < 1 {
			t.Errorf("reference offsets: a crop starts at x = %d; numpy's uniform(W-w) never gives less than 1", minX)
		}
		if !reference && minX != 0 {
			t.Errorf("uniform offsets: no crop starts at x = 0 (min %d)", minX)
		}
	}
}

func TestCropEdgeCases(t *testing.T) {
	c := DefaultCrop()
	// No boxes: never cropped, nothing drawn.
	r := &recorder{Rand: rand.New(rand.NewPCG(1, 1)), n: 6}
	if p := c.sample(r, 100, 80, nil, nil); p.apply || len(r.seen) != 0 {
		t.Errorf("an image without boxes was cropped or drew a mode: %+v", p)
	}
	// A box without area is dropped even when its centre is inside.
	kb, kl := cropBoxes([][4]float32{{10, 10, 10, 30}, {5, 5, 25, 25}}, []int{1, 2}, 0, 0, 50, 50)
	if len(kb) != 1 || kl[0] != 2 {
		t.Errorf("kept %v %v", kb, kl)
	}
	// Clipping and moving into the crop's coordinates.
	kb, _ = cropBoxes([][4]float32{{5, 5, 45, 25.5}}, []int{1}, 10, 4, 30, 50)
	if kb[0] != [4]float32{0, 1, 20, 21.5} {
		t.Errorf("clipped box %v", kb[0])
	}
	// Unsatisfiable modes without the whole-image mode: bounded, not an endless loop.
	c.WholeImage, c.RandomPatch, c.MinIoUs = false, false, []float64{1}
	if p := c.sample(rand.New(rand.NewPCG(2, 2)), 100, 80, [][4]float32{{0, 0, 10, 10}}, []int{1}); p.apply || p.modeRounds != maxModeRounds {
		t.Errorf("unsatisfiable crop: %+v", p)
	}
}

func TestExpandAndFlipStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	o := DefaultExpand()
	const n = 20000
	applied, ratio := 0, 0.0
	for range n {
		p := o.sample(rng, 500, 375)
		if p.apply {
			applied++
			ratio += float64(p.cw) / 500
			if p.ox < 0 || p.oy < 0 || p.ox+500 > p.cw || p.oy+375 > p.ch {
				t.Fatalf("image off the canvas: %+v", p)
			}
		}
	}
	// Binomial: 4 standard deviations of 0.5 over n is 0.014.
	if f := float64(applied) / n; math.Abs(f-0.5) > 0.014 {
		t.Errorf("expand applied with frequency %.3f", f)
	}
	// The mean of uniform(1, 4) is 2.5 (the canvas width truncates: at most 1/500 less).
	if m := ratio / float64(applied); math.Abs(m-2.5) > 0.03 {
		t.Errorf("mean zoom-out ratio %.3f, want 2.5", m)
	}
	flips := 0
	for range n {
		if chance(rng, 0.5) {
			flips++
		}
	}
	if f := float64(flips) / n; math.Abs(f-0.5) > 0.014 {
		t.Errorf("flip frequency %.3f", f)
	}
	// Other probabilities draw a float.
	hits := 0
	for range n {
		if chance(rng, 0.2) {
			hits++
		}
	}
	if f := float64(hits) / n; math.Abs(f-0.2) > 0.012 {
		t.Errorf("chance(0.2) frequency %.3f", f)
	}
}

func TestResizeScalesBoxes(t *testing.T) {
	src := fixture(120, 90, [][4]float32{{30, 15, 90, 60}}, []int{2})
	for _, u8 := range []bool{false, true} {
		s := cloneSample(src)
		tr := &resize{cfg: ResizeConfig{Size: 60, Uint8: u8}}
		if err := tr.Apply(s, nil); err != nil {
			t.Fatal(err)
		}
		if s.W != 60 || s.H != 60 || s.Boxes[0] != [4]float32{15, 10, 45, 40} {
			t.Fatalf("uint8 %v: %dx%d box %v", u8, s.W, s.H, s.Boxes[0])
		}
		// Away from the rectangle's border the colour is unchanged.
		c := labelColour(2)
		for _, p := range [][2]int{{20, 15}, {40, 35}, {16, 11}, {43, 38}} {
			q := s.Image[(p[1]*60+p[0])*3:]
			if q[0] != c[0] || q[1] != c[1] || q[2] != c[2] {
				t.Errorf("uint8 %v: pixel %v = %v, want %v", u8, p, q[:3], c)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, std := range [][]float64{{128}, {58.4, 57.1, 57.4}, {1}} {
		tr, err := Build(refOf("normalize", map[string]any{"mean": []float64{123, 117, 104}, "std": std}))
		if err != nil {
			t.Fatal(err)
		}
		s := fixture(7, 5, nil, nil)
		for i := range s.Image {
			s.Image[i] = float32(i*37%256) + 0.25
		}
		want := make([]float32, len(s.Image))
		mean := [3]float32{123, 117, 104}
		for i, v := range s.Image {
			sd := float32(std[min(i%3, len(std)-1)])
			want[i] = (v - mean[i%3]) / sd
		}
		if err := tr.Apply(s, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.Image, want) {
			t.Errorf("std %v: normalised %v, want %v", std, s.Image[:6], want[:6])
		}
	}
}
