package postprocess

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// torchScope returns a scope closed at the end of the test.
func torchScope(t testing.TB) *torch.Scope {
	s := torch.NewScope()
	t.Cleanup(s.Close)
	return s
}

// randomBoxes returns n corner-form boxes in [0, 1] around a few centres, and scores.
func randomBoxes(rng *rand.Rand, n, clusters int) (boxes, scores []float64) {
	centres := make([][2]float64, clusters)
	for i := range centres {
		centres[i] = [2]float64{0.2 + 0.6*rng.Float64(), 0.2 + 0.6*rng.Float64()}
	}
	for range n {
		c := centres[rng.IntN(clusters)]
		x, y := c[0]+0.05*rng.NormFloat64(), c[1]+0.05*rng.NormFloat64()
		w, h := 0.05+0.25*rng.Float64(), 0.05+0.25*rng.Float64()
		boxes = append(boxes, x-w/2, y-h/2, x+w/2, y+h/2)
		scores = append(scores, rng.Float64())
	}
	return boxes, scores
}

// iouMatrix returns the float32 IoU matrix of boxes [n, 4] with itself, row-major.
func iouMatrix(t *testing.T, b *ts.Tensor) []float32 {
	t.Helper()
	m, err := box.IoU(b, b)
	if err != nil {
		t.Fatal(err)
	}
	defer m.MustDrop()
	v, err := float32Values(m)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNMSProperties checks, on random clustered boxes, that NMS keeps boxes best first,
// that no two kept boxes overlap by more than the threshold, that every dropped candidate
// overlaps a better kept box by more than the threshold (greedy maximality), and that NMS
// of its own output keeps everything (idempotence).
func TestNMSProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bv, sv := randomBoxes(rng, 600, 15)
	b, sc := tensor(t, bv, 600, 4), tensor(t, sv, 600)
	all := iouMatrix(t, b)
	for _, c := range []struct {
		iou              float64
		topK, candidates int
	}{{0.45, 0, 200}, {0.3, 0, 0}, {0.7, 0, 1000}, {0.5, 20, 300}} {
		keep, err := NMS(b, sc, c.iou, c.topK, c.candidates)
		if err != nil {
			t.Fatal(err)
		}
		kept := ints(t, keep)
		if c.topK > 0 && len(kept) > c.topK {
			t.Errorf("iou %g: %d kept, top_k %d", c.iou, len(kept), c.topK)
		}
		thr := float32(c.iou)
		isKept := map[int64]bool{}
		for i, k := range kept {
			if i > 0 && sv[k] > sv[kept[i-1]] {
				t.Errorf("iou %g: kept box %d (score %g) after a lower score %g", c.iou, k, sv[k], sv[kept[i-1]])
			}
			for _, j := range kept[:i] {
				if all[k*600+j] > thr {
					t.Errorf("iou %g: kept boxes %d and %d overlap by %g", c.iou, j, k, all[k*600+j])
				}
			}
			isKept[k] = true
		}
		if c.topK == 0 {
			// Candidates: the best c.candidates scores (all when 0).
			order := make([]int64, 600)
			for i := range order {
				order[i] = int64(i)
			}
			slices.SortStableFunc(order, func(x, y int64) int { return -cmpFloat(sv[x], sv[y]) })
			if c.candidates > 0 && c.candidates < len(order) {
				order = order[:c.candidates]
			}
			for _, j := range order {
				if isKept[j] {
					continue
				}
				covered := false
				for _, k := range kept {
					if sv[k] >= sv[j] && all[k*600+j] > thr {
						covered = true
						break
					}
				}
				if !covered {
					t.Errorf("iou %g: candidate %d dropped without a better kept box overlapping it", c.iou, j)
				}
			}
		}
		// Idempotence: NMS of the kept boxes keeps all of them, in order.
		kb, ks := gather(bv, sv, kept)
		again, err := NMS(tensor(t, kb, int64(len(kept)), 4), tensor(t, ks, int64(len(kept))), c.iou, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := ints(t, again); len(got) != len(kept) || !slices.IsSorted(got) {
			t.Errorf("iou %g: NMS of its %d kept boxes keeps %v", c.iou, len(kept), got)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func gather(bv, sv []float64, idx []int64) (boxes, scores []float64) {
	for _, i := range idx {
		boxes = append(boxes, bv[4*i:4*i+4]...)
		scores = append(scores, sv[i])
	}
	return boxes, scores
}

// TestSoftNMSProperties: soft NMS never raises a score, picks each box at most once,
// keeps the picked scores above the threshold (after the first pick) and, with a tiny
// sigma, turns into hard NMS with threshold 0 (any overlap drops the box).
func TestSoftNMSProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	bv, sv := randomBoxes(rng, 300, 10)
	b, sc := tensor(t, bv, 300, 4), tensor(t, sv, 300)
	keep, newScores, err := SoftNMS(b, sc, 0.5, 0.05, 0)
	if err != nil {
		t.Fatal(err)
	}
	picked, ps := ints(t, keep), floats(t, newScores)
	seen := map[int64]bool{}
	for i, k := range picked {
		if seen[k] {
			t.Fatalf("box %d picked twice", k)
		}
		seen[k] = true
		if ps[i] > float64(float32(sv[k])) {
			t.Errorf("box %d: score rose from %g to %g", k, sv[k], ps[i])
		}
		if i > 0 && !(ps[i] > float64(float32(0.05))) {
			t.Errorf("box %d picked with score %g <= threshold", k, ps[i])
		}
	}
	// sigma -> 0: exp(-IoU²/sigma) underflows to 0 for any overlap, so overlapping boxes
	// are dropped as by hard NMS with IoU threshold 0 (over all boxes).
	keep, newScores, err = SoftNMS(b, sc, 1e-12, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	soft := ints(t, keep)
	floats(t, newScores)
	hardKeep, err := NMS(b, sc, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if hard := ints(t, hardKeep); !slices.Equal(soft, hard) {
		t.Errorf("soft NMS with sigma 1e-12 picked %v\nhard NMS with IoU 0 keeps %v", soft, hard)
	}
}

// TestDetectProperties checks Detect's output on the golden net output: classes in
// ascending order, each class's detections best first (hard NMS), no two detections of a
// class overlapping above the threshold, scores above the score threshold, and at most
// TopK per class.
func TestDetectProperties(t *testing.T) {
	conf, loc, priors := goldenInputs(t)
	for _, cfg := range []Config{
		{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200},
		{Method: Hard, IoUThreshold: 0.2, ScoreThreshold: 0.02, CandidateSize: 50, TopK: 4},
		{Method: Soft, ScoreThreshold: 0.02, Sigma: 0.5, TopK: 6},
	} {
		dets, err := Detect(conf, loc, priors, box.DefaultVariances, cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := dets[0]
		perClass := map[int][]int{}
		for i := range d.Scores {
			if i > 0 && d.Labels[i] < d.Labels[i-1] {
				t.Fatalf("%+v: labels not in ascending order", cfg)
			}
			if !(d.Scores[i] > float32(cfg.ScoreThreshold)) {
				t.Errorf("%+v: detection %d has score %g", cfg, i, d.Scores[i])
			}
			if d.Labels[i] < 1 || d.Labels[i] > 20 {
				t.Errorf("%+v: detection %d has label %d", cfg, i, d.Labels[i])
			}
			perClass[d.Labels[i]] = append(perClass[d.Labels[i]], i)
		}
		for label, idx := range perClass {
			if cfg.TopK > 0 && len(idx) > cfg.TopK {
				t.Errorf("%+v: class %d has %d detections", cfg, label, len(idx))
			}
			if cfg.Method != Hard {
				continue
			}
			var bv []float64
			for k, i := range idx {
				if k > 0 && d.Scores[i] > d.Scores[idx[k-1]] {
					t.Errorf("%+v: class %d not best first", cfg, label)
				}
				for _, v := range d.Boxes[i] {
					bv = append(bv, float64(v))
				}
			}
			m := iouMatrix(t, tensor(t, bv, int64(len(idx)), 4))
			for a := range idx {
				for b := range a {
					if m[a*len(idx)+b] > float32(cfg.IoUThreshold) {
						t.Errorf("%+v: class %d: detections %d and %d overlap by %g", cfg, label, idx[b], idx[a], m[a*len(idx)+b])
					}
				}
			}
		}
	}
}

// craftedNet returns the logits and offsets of a net with 3 priors and 3 classes whose
// decoded boxes are the priors: prior 0 is class 1 (0.9), prior 1, almost the same box,
// is class 2 (0.6), prior 2, far away, is class 2 (0.7).
func craftedNet(t *testing.T) (conf, loc, priors *ts.Tensor) {
	priors = tensor(t, []float64{
		0.3, 0.3, 0.2, 0.2,
		0.31, 0.3, 0.2, 0.2,
		0.8, 0.8, 0.1, 0.1,
	}, 3, 4)
	// Logits whose softmax is (0.05, 0.9, 0.05), (0.2, 0.2, 0.6), (0.15, 0.15, 0.7).
	conf = tensor(t, []float64{
		0, 2.8903718, 0,
		0, 0, 1.0986123,
		0, 0, 1.5404450,
	}, 1, 3, 3)
	loc = tensor(t, make([]float64, 12), 1, 3, 4)
	return conf, loc, priors
}

// TestClassAgnostic: per class, the two overlapping boxes of different classes are both
// kept; class-agnostic, the better one suppresses the other (hard) or decays it (soft).
func TestClassAgnostic(t *testing.T) {
	conf, loc, priors := craftedNet(t)
	hard := Config{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200}
	run := func(cfg Config) Detections {
		t.Helper()
		dets, err := Detect(conf, loc, priors, box.DefaultVariances, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return dets[0]
	}
	summary := func(d Detections) [][2]float64 {
		var out [][2]float64
		for i := range d.Scores {
			out = append(out, [2]float64{float64(d.Labels[i]), float64(d.Scores[i])})
		}
		return out
	}
	near := func(got [][2]float64, want [][2]float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i][0] != want[i][0] || got[i][1]-want[i][1] > 1e-5 || want[i][1]-got[i][1] > 1e-5 {
				return false
			}
		}
		return true
	}
	// Per class: priors 0 and 1 overlap (IoU 0.9), so within class 1 prior 0 (0.9)
	// suppresses prior 1 (0.2), and within class 2 prior 1 (0.6) suppresses prior 0
	// (0.05); prior 2 overlaps nothing.
	perClass := run(hard)
	if got, want := summary(perClass), [][2]float64{{1, 0.9}, {1, 0.15}, {2, 0.7}, {2, 0.6}}; !near(got, want) {
		t.Errorf("per class: %v, want %v", got, want)
	}
	// Agnostic: class 1's 0.9 (prior 0) also suppresses class 2's 0.6 (prior 1), and
	// class 2's 0.7 (prior 2) suppresses class 1's 0.15 (the same box).
	agn := hard
	agn.ClassAgnostic = true
	if got, want := summary(run(agn)), [][2]float64{{1, 0.9}, {2, 0.7}}; !near(got, want) {
		t.Errorf("class-agnostic: %v, want %v", got, want)
	}
	// Soft, per class: class 1's 0.2 decays to 0.2·exp(-0.905²/0.5) = 0.039 and is
	// dropped; class 2 is untouched. Agnostic: class 2's 0.6 decays to 0.116 (kept, last)
	// and class 1's 0.15 decays by exp(-1/0.5) to 0.020 (dropped).
	soft := Config{Method: Soft, ScoreThreshold: 0.1, Sigma: 0.5}
	if got, want := summary(run(soft)), [][2]float64{{1, 0.9}, {1, 0.15}, {2, 0.7}, {2, 0.6}}; !near(got, want) {
		t.Errorf("soft per class: %v, want %v", got, want)
	}
	soft.ClassAgnostic = true
	if got, want := summary(run(soft)), [][2]float64{{1, 0.9}, {2, 0.7}, {2, 0.116}}; !near(got[:min(2, len(got))], want[:2]) ||
		len(got) != 3 || got[2][0] != 2 || got[2][1] < 0.11 || got[2][1] > 0.12 {
		t.Errorf("soft class-agnostic: %v, want about %v", got, want)
	}
}

// TestBatchMatchesSingleImages: a batch gives each image the detections it gets alone.
func TestBatchMatchesSingleImages(t *testing.T) {
	conf, loc, priors := goldenInputs(t)
	// Second image: the classes in reverse order, offsets negated.
	perm := []int64{0}
	for c := int64(20); c >= 1; c-- {
		perm = append(perm, c)
	}
	conf2 := conf.MustIndexSelect(2, tensorInt64(t, perm), false)
	defer conf2.MustDrop()
	loc2 := loc.MustNeg(false)
	defer loc2.MustDrop()
	confB := ts.MustCat([]ts.Tensor{*conf, *conf2}, 0)
	defer confB.MustDrop()
	locB := ts.MustCat([]ts.Tensor{*loc, *loc2}, 0)
	defer locB.MustDrop()
	for _, cfg := range []Config{
		{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200},
		{Method: Soft, ScoreThreshold: 0.01, Sigma: 0.5},
		{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200, ClassAgnostic: true},
	} {
		batch, err := Detect(confB, locB, priors, box.DefaultVariances, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, pair := range [][2]*ts.Tensor{{conf, loc}, {conf2, loc2}} {
			single, err := Detect(pair[0], pair[1], priors, box.DefaultVariances, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !equalDetections(batch[i], single[0]) {
				t.Errorf("%+v: image %d: batch gives %d detections, alone %d (or different ones)", cfg, i, batch[i].Len(), single[0].Len())
			}
		}
	}
}

func equalDetections(a, b Detections) bool {
	return slices.Equal(a.Boxes, b.Boxes) && slices.Equal(a.Scores, b.Scores) && slices.Equal(a.Labels, b.Labels)
}

func tensorInt64(t testing.TB, v []int64) *ts.Tensor {
	x := int64Tensor(v)
	t.Cleanup(x.MustDrop)
	return x
}

// TestCodePathsAgree shrinks the block sizes so that hard NMS works in many blocks,
// IoU matrices come in many row blocks and soft NMS computes its decays row by row, and
// checks that the results stay those of the reference.
func TestCodePathsAgree(t *testing.T) {
	defer func(h, m, s int) { hardBlock, matrixElems, softDense = h, m, s }(hardBlock, matrixElems, softDense)
	for _, sizes := range [][3]int{{7, 50, 0}, {3, 48, 3}, {64, 4096, 10}, {1024, 1 << 22, 4096}} {
		hardBlock, matrixElems, softDense = sizes[0], sizes[1], sizes[2]
		t.Run("", func(t *testing.T) {
			TestNMSMatchesReference(t)
			TestSoftNMSMatchesReference(t)
			TestDetectMatchesReference(t)
		})
	}
}

func TestEmptyInputs(t *testing.T) {
	b := tensor(t, nil, 0, 4)
	s := tensor(t, nil, 0)
	keep, err := NMS(b, s, 0.5, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	if got := ints(t, keep); len(got) != 0 {
		t.Errorf("NMS of no boxes: %v", got)
	}
	keep, newScores, err := SoftNMS(b, s, 0.5, 0.1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, gs := ints(t, keep), floats(t, newScores); len(got) != 0 || len(gs) != 0 {
		t.Errorf("SoftNMS of no boxes: %v %v", got, gs)
	}
	conf, loc, priors := goldenInputs(t)
	for _, method := range []string{Hard, Soft} {
		dets, err := Detect(conf, loc, priors, box.DefaultVariances, Config{Method: method, IoUThreshold: 0.5, ScoreThreshold: 1, Sigma: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		if dets[0].Len() != 0 {
			t.Errorf("%s with score threshold 1: %d detections", method, dets[0].Len())
		}
	}
	none := conf.MustNarrow(0, 0, 0, false)
	defer none.MustDrop()
	noneLoc := loc.MustNarrow(0, 0, 0, false)
	defer noneLoc.MustDrop()
	dets, err := Detect(none, noneLoc, priors, box.DefaultVariances, Config{Method: Hard, IoUThreshold: 0.5})
	if err != nil || len(dets) != 0 {
		t.Errorf("empty batch: %d images, %v", len(dets), err)
	}
}

// TestPairIoUMatchesBoxesIoU: the package's IoU matrix equals boxes.IoU bit for bit,
// also for inverted, empty, identical and disjoint boxes.
func TestPairIoUMatchesBoxesIoU(t *testing.T) {
	bv, _ := randomBoxes(rand.New(rand.NewPCG(9, 10)), 400, 8)
	bv = append(bv,
		0.5, 0.5, 0.4, 0.6, // inverted
		0.2, 0.2, 0.2, 0.2, // empty
		2, 2, 3, 3, // disjoint from all
		0.3, 0.3, 0.5, 0.5, 0.3, 0.3, 0.5, 0.5, // identical pair
	)
	n := int64(len(bv) / 4)
	a := tensor(t, bv, n, 4)
	b := tensor(t, bv[:4*100], 100, 4)
	want, err := box.IoU(a, b)
	if err != nil {
		t.Fatal(err)
	}
	w := floats(t, want)
	s := torchScope(t)
	got, err := float32Values(pairIoU(s, a, b))
	if err != nil {
		t.Fatal(err)
	}
	for i := range w {
		if float64(got[i]) != w[i] {
			t.Fatalf("entry %d: %g, boxes.IoU %g", i, got[i], w[i])
		}
	}
}
