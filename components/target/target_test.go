package target

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// goldenMatcher returns a Matcher over the reference's 3000 MobileNet priors, closed at
// cleanup.
func goldenMatcher(t testing.TB) *Matcher {
	t.Helper()
	g := loadNpz(t, "match_golden.npz")
	m, err := NewMatcher(g["priors"], 0.5, boxes.DefaultVariances)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// groundTruth makes the [G,4] float32 and [G] int64 tensors of one image; the test frees
// them at cleanup.
func groundTruth(t testing.TB, bs [][4]float32, labels []int64) (*ts.Tensor, *ts.Tensor) {
	t.Helper()
	flat := make([]float32, 0, 4*len(bs))
	for _, b := range bs {
		flat = append(flat, b[:]...)
	}
	var gb, gl *ts.Tensor
	if len(bs) == 0 {
		gb = ts.MustZeros([]int64{0, 4}, gotch.Float, gotch.CPU)
		gl = ts.MustZeros([]int64{0}, gotch.Int64, gotch.CPU)
	} else {
		var err error
		if gb, err = ts.NewTensorFromData(flat, []int64{int64(len(bs)), 4}); err != nil {
			t.Fatal(err)
		}
		if gl, err = ts.NewTensorFromData(labels, []int64{int64(len(labels))}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(gb.MustDrop)
	t.Cleanup(gl.MustDrop)
	return gb, gl
}

// randomBoxes returns n boxes inside the unit square with sides in [0.02, 0.6].
func randomBoxes(rng *rand.Rand, n int) [][4]float32 {
	out := make([][4]float32, n)
	for i := range out {
		w, h := 0.02+0.58*rng.Float64(), 0.02+0.58*rng.Float64()
		x, y := rng.Float64()*(1-w), rng.Float64()*(1-h)
		out[i] = [4]float32{float32(x), float32(y), float32(x + w), float32(y + h)}
	}
	return out
}

// match runs m.Match and returns the locations [P][4] and labels [P] as Go values.
func match(t testing.TB, m *Matcher, gb, gl *ts.Tensor) (*ts.Tensor, []int64) {
	t.Helper()
	loc, labels, err := m.Match(gb, gl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(loc.MustDrop)
	defer labels.MustDrop()
	return loc, labels.Int64Values()
}

func TestMatchZeroGroundTruth(t *testing.T) {
	m := goldenMatcher(t)
	gb, gl := groundTruth(t, nil, nil)
	loc, labels := match(t, m, gb, gl)
	for i, l := range labels {
		if l != 0 {
			t.Fatalf("prior %d: label %d, want 0 (background) for an image without objects", i, l)
		}
	}
	if got := loc.MustSize(); got[0] != 3000 || got[1] != 4 || loc.DType() != gotch.Float {
		t.Fatalf("loc: shape %v dtype %v", got, loc.DType())
	}
	for i, v := range loc.Float64Values() {
		if v != 0 {
			t.Fatalf("loc[%d] = %g, want 0", i, v)
		}
	}
}

// TestMatchProperties checks, on seeded random ground truths, the matching rules
// re-derived independently from the IoU matrix, that decoding the locations of the
// positive priors gives back their ground-truth boxes, and that every ground truth gets a
// prior when no two ground truths share their best prior.
func TestMatchProperties(t *testing.T) {
	m := goldenMatcher(t)
	rng := rand.New(rand.NewPCG(7, 11))
	for _, n := range []int{1, 3, 10, 30} {
		for rep := 0; rep < 3; rep++ {
			bs := randomBoxes(rng, n)
			labels := make([]int64, n)
			for i := range labels {
				labels[i] = int64(i + 1) // the label names the ground truth
			}
			gb, gl := groundTruth(t, bs, labels)
			loc, got := match(t, m, gb, gl)
			checkRules(t, m, gb, got)
			checkDecode(t, m, loc, bs, got)
		}
	}
}

// checkRules re-derives every label from the IoU matrix with Go loops.
func checkRules(t *testing.T, m *Matcher, gb *ts.Tensor, got []int64) {
	t.Helper()
	iouT, err := boxes.IoU(m.corner, gb)
	if err != nil {
		t.Fatal(err)
	}
	g := int(iouT.MustSize()[1])
	iou := iouT.Float64Values(true)
	p := len(got)
	// best prior of each ground truth (first max) and the ground truth keeping it (last).
	forced := map[int]int{}
	bestPrior := make([]int, g)
	for j := 0; j < g; j++ {
		for i := 1; i < p; i++ {
			if iou[i*g+j] > iou[bestPrior[j]*g+j] {
				bestPrior[j] = i
			}
		}
		forced[bestPrior[j]] = j
	}
	for i := 0; i < p; i++ {
		best := 0
		for j := 1; j < g; j++ {
			if iou[i*g+j] > iou[i*g+best] {
				best = j
			}
		}
		want := int64(0)
		if j, ok := forced[i]; ok {
			want = int64(j + 1)
		} else if iou[i*g+best] >= 0.5 {
			want = int64(best + 1)
		}
		if got[i] != want {
			t.Fatalf("G=%d prior %d: label %d, want %d (best IoU %.4f)", g, i, got[i], want, iou[i*g+best])
		}
	}
	shared := len(forced) < g
	for j := 0; j < g && !shared; j++ {
		if !contains(got, int64(j+1)) {
			t.Errorf("G=%d: ground truth %d got no prior", g, j)
		}
	}
}

func contains(xs []int64, v int64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// checkDecode decodes the locations and compares the positive priors' boxes with their
// ground truths.
func checkDecode(t *testing.T, m *Matcher, loc *ts.Tensor, bs [][4]float32, labels []int64) {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	center, err := boxes.Decode(loc, m.center, boxes.DefaultVariances)
	if err != nil {
		t.Fatal(err)
	}
	corner, err := boxes.CenterToCorner(s.T(center))
	if err != nil {
		t.Fatal(err)
	}
	dec := s.T(corner).Float64Values()
	worst := 0.0
	for i, l := range labels {
		if l == 0 {
			continue
		}
		for k := 0; k < 4; k++ {
			worst = math.Max(worst, math.Abs(dec[4*i+k]-float64(bs[l-1][k])))
		}
	}
	// Encode then decode, element-wise in float32 (no sums): the round trip loses a few
	// ulps of coordinates in [0, 1] (~6e-8 each), so 2e-6 holds it while a wrong variance
	// or centre/corner mix-up is off by 1e-2 or more.
	if worst > 2e-6 {
		t.Errorf("decoded positives differ from their ground truths by up to %g, want <= 2e-6", worst)
	}
}

// TestMatchSharedBestPrior checks the reference's rule when two ground truths have the
// same best prior: the later one keeps it.
func TestMatchSharedBestPrior(t *testing.T) {
	m := goldenMatcher(t)
	box := [4]float32{0.3, 0.3, 0.55, 0.6}
	gb, gl := groundTruth(t, [][4]float32{box, box}, []int64{4, 9})
	_, labels := match(t, m, gb, gl)
	iou, err := boxes.IoU(m.corner, gb)
	if err != nil {
		t.Fatal(err)
	}
	_, idx := iou.MustMaxDim(0, false, true)
	best := idx.Int64Values(true)[0]
	if labels[best] != 9 {
		t.Errorf("shared best prior %d: label %d, want 9 (the later ground truth)", best, labels[best])
	}
	ones, nines := 0, 0
	for _, l := range labels {
		switch l {
		case 4:
			ones++
		case 9:
			nines++
		}
	}
	// Every other positive prior ties between the two boxes and takes the first.
	if nines != 1 || ones == 0 {
		t.Errorf("labels 4: %d priors, 9: %d priors; want 9 only on the forced prior", ones, nines)
	}
}

func TestMatchErrors(t *testing.T) {
	m := goldenMatcher(t)
	good, goodLabels := groundTruth(t, [][4]float32{{0.1, 0.1, 0.5, 0.5}}, []int64{1})
	_, zeroLabel := groundTruth(t, [][4]float32{{0.1, 0.1, 0.5, 0.5}}, []int64{0})
	_, twoLabels := groundTruth(t, [][4]float32{{0.1, 0.1, 0.5, 0.5}, {0, 0, 1, 1}}, []int64{1, 2})
	double := good.MustTotype(gotch.Double, false)
	defer double.MustDrop()
	int32Labels := goodLabels.MustTotype(gotch.Int, false)
	defer int32Labels.MustDrop()
	flat := good.MustView([]int64{4}, false)
	defer flat.MustDrop()
	for _, c := range []struct {
		name   string
		b, l   *ts.Tensor
		errHas string
	}{
		{"nil", nil, goodLabels, "nil"},
		{"label 0", good, zeroLabel, "labels must be >= 1"},
		{"label count", good, twoLabels, "one per box"},
		{"float64 boxes", double, goodLabels, "want float32"},
		{"int32 labels", good, int32Labels, "want int64"},
		{"1-D boxes", flat, goodLabels, "want [G,4]"},
	} {
		if _, _, err := m.Match(c.b, c.l); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.errHas)
		}
	}

	priors := loadNpz(t, "match_golden.npz")["priors"]
	for _, thr := range []float64{0, -0.5, 1.5, math.NaN()} {
		if _, err := NewMatcher(priors, thr, boxes.DefaultVariances); err == nil {
			t.Errorf("threshold %g accepted", thr)
		}
	}
	if _, err := NewMatcher(priors, 0.5, boxes.Variances{Center: 0.1}); err == nil {
		t.Error("zero size variance accepted")
	}
	zeroWidth := torch.MulScalar(priors, 0)
	defer zeroWidth.MustDrop()
	if _, err := NewMatcher(zeroWidth, 0.5, boxes.DefaultVariances); err == nil || !strings.Contains(err.Error(), "width and height > 0") {
		t.Errorf("zero-size priors: error %v", err)
	}
	if _, err := NewMatcher(flat, 0.5, boxes.DefaultVariances); err == nil {
		t.Error("1-D priors accepted")
	}

	closed, err := NewMatcher(priors, 0.5, boxes.DefaultVariances)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	closed.Close()
	if _, _, err := closed.Match(good, goodLabels); err == nil {
		t.Error("Match on a closed matcher succeeded")
	}
}

// TestMatchConcurrent runs Match from several goroutines on one Matcher.
func TestMatchConcurrent(t *testing.T) {
	m := goldenMatcher(t)
	bs := randomBoxes(rand.New(rand.NewPCG(3, 4)), 8)
	gb, gl := groundTruth(t, bs, []int64{1, 2, 3, 4, 5, 6, 7, 8})
	_, want := match(t, m, gb, gl)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				loc, labels, err := m.Match(gb, gl)
				if err != nil {
					errs <- err.Error()
					return
				}
				got := labels.Int64Values(true)
				loc.MustDrop()
				for i := range got {
					if got[i] != want[i] {
						errs <- "labels differ between goroutines"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestMatchMemory checks that Match frees everything it creates: the C heap must not
// grow over many calls.
func TestMatchMemory(t *testing.T) {
	m := goldenMatcher(t)
	bs := randomBoxes(rand.New(rand.NewPCG(5, 6)), 10)
	gb, gl := groundTruth(t, bs, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	empty, emptyLabels := groundTruth(t, nil, nil)
	g, err := torch.MeasureGrowth(50, 1000, func(i int) error {
		b, l := gb, gl
		if i%5 == 0 {
			b, l = empty, emptyLabels
		}
		loc, labels, err := m.Match(b, l)
		if err != nil {
			return err
		}
		loc.MustDrop()
		labels.MustDrop()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per Match: C heap %+.1f bytes, RSS %+.1f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > 128 {
		t.Errorf("the C heap grew by %.1f bytes per Match, want <= 128 (a leaked tensor costs more)", g.MallocPerStep())
	}
}

// BenchmarkMatchBatch32 matches a batch of 32 images with 10 ground truths each against
// the 3000 MobileNet priors (one Match per image, as a data loader does).
func BenchmarkMatchBatch32(b *testing.B) {
	m := goldenMatcher(b)
	rng := rand.New(rand.NewPCG(1, 2))
	type image struct{ b, l *ts.Tensor }
	images := make([]image, 32)
	for i := range images {
		gb, gl := groundTruth(b, randomBoxes(rng, 10), []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
		images[i] = image{gb, gl}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, im := range images {
			loc, labels, err := m.Match(im.b, im.l)
			if err != nil {
				b.Fatal(err)
			}
			loc.MustDrop()
			labels.MustDrop()
		}
	}
}
