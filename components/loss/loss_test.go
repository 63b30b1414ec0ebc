package loss

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
	"github.com/ssdrunner/ssdrunner/registry"
)

// randomBatch returns predictions that require grad and targets for b images of p priors
// and c classes, with about posFraction of the priors positive; the test frees them.
func randomBatch(t testing.TB, rng *rand.Rand, b, p, c int, posFraction float64) (conf, loc, labels, gtLoc *ts.Tensor) {
	t.Helper()
	cv := make([]float32, b*p*c)
	for i := range cv {
		cv[i] = float32(rng.NormFloat64())
	}
	lv := make([]float32, b*p*4)
	gv := make([]float32, b*p*4)
	for i := range lv {
		lv[i], gv[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	yv := make([]int64, b*p)
	for i := range yv {
		if rng.Float64() < posFraction {
			yv[i] = 1 + rng.Int64N(int64(c-1))
		}
	}
	conf = leaf(t, cv, int64(b), int64(p), int64(c))
	loc = leaf(t, lv, int64(b), int64(p), 4)
	var err error
	if labels, err = ts.NewTensorFromData(yv, []int64{int64(b), int64(p)}); err != nil {
		t.Fatal(err)
	}
	if gtLoc, err = ts.NewTensorFromData(gv, []int64{int64(b), int64(p), 4}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(labels.MustDrop)
	t.Cleanup(gtLoc.MustDrop)
	return conf, loc, labels, gtLoc
}

// forwardBackward runs the loss, backpropagates regression + classification and returns
// both values; gradients accumulate in conf and loc.
func forwardBackward(t testing.TB, l Loss, conf, loc, labels, gtLoc *ts.Tensor) (float64, float64) {
	t.Helper()
	reg, cls, err := l.Forward(conf, loc, labels, gtLoc)
	if err != nil {
		t.Fatal(err)
	}
	total := reg.MustAdd(cls, false)
	defer total.MustDrop()
	if err := total.Backward(); err != nil {
		t.Fatal(err)
	}
	return reg.Float64Values(true)[0], cls.Float64Values(true)[0]
}

// TestMultiboxNoPositives checks the deviation from the reference: a batch without
// positives gives finite zero losses and zero gradients, not NaN.
func TestMultiboxNoPositives(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(1, 1)), 2, 50, 5, 0)
	l, err := Build(registry.Ref{Type: "multibox"})
	if err != nil {
		t.Fatal(err)
	}
	reg, cls := forwardBackward(t, l, conf, loc, labels, gtLoc)
	if reg != 0 || cls != 0 {
		t.Errorf("losses %g, %g without positives, want 0, 0", reg, cls)
	}
	for _, x := range []*ts.Tensor{conf, loc} {
		g := x.MustGrad(false)
		for _, v := range g.Float64Values(true) {
			if v != 0 {
				t.Fatalf("gradient entry %g without positives, want 0", v)
			}
		}
	}
}

// TestMultiboxBackward checks the analytic gradient on a small batch: d(cls)/d(conf) is
// (softmax - one-hot)/positives on the mined rows and 0 elsewhere; d(reg)/d(loc) is
// clamp(loc - gt, -1, 1)/positives on the positive rows.
func TestMultiboxBackward(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(2, 3)), 3, 40, 4, 0.1)
	l, err := NewMultibox(MultiboxConfig{NegPosRatio: 2, MatchIoU: DefaultMatchIoU})
	if err != nil {
		t.Fatal(err)
	}
	forwardBackward(t, l, conf, loc, labels, gtLoc)

	s := torch.NewScope()
	defer s.Close()
	bg := s.T(backgroundLoss(conf))
	mask, err := HardNegativeMining(bg, labels, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := s.T(mask).Int64Values()
	y := labels.Int64Values()
	numPos := 0.0
	for _, v := range y {
		if v > 0 {
			numPos++
		}
	}
	prob := s.T(s.T(conf.MustDetach(false)).MustSoftmax(2, gotch.Float, false)).Float64Values()
	cg := s.T(conf.MustGrad(false)).Float64Values()
	lv, gv := s.T(loc.MustDetach(false)).Float64Values(), gtLoc.Float64Values()
	lg := s.T(loc.MustGrad(false)).Float64Values()
	worst := 0.0
	for i := range y {
		for k := 0; k < 4; k++ { // classes
			want := 0.0
			if m[i] != 0 {
				want = prob[4*i+k]
				if int64(k) == y[i] {
					want--
				}
				want /= numPos
			}
			worst = math.Max(worst, math.Abs(cg[4*i+k]-want))
		}
		for k := 0; k < 4; k++ { // coordinates
			want := 0.0
			if y[i] > 0 {
				want = math.Max(-1, math.Min(1, lv[4*i+k]-gv[4*i+k])) / numPos
			}
			worst = math.Max(worst, math.Abs(lg[4*i+k]-want))
		}
	}
	t.Logf("%g positives; max |gradient - analytic| %.3g", numPos, worst)
	if worst > 1e-6 {
		t.Errorf("gradients differ from the analytic ones by up to %g", worst)
	}
}

func TestMultiboxFloat64(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(4, 5)), 2, 30, 3, 0.2)
	conf64 := conf.MustTotype(gotch.Double, false)
	defer conf64.MustDrop()
	loc64 := loc.MustTotype(gotch.Double, false)
	defer loc64.MustDrop()
	gt64 := gtLoc.MustTotype(gotch.Double, false)
	defer gt64.MustDrop()
	l, _ := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	r32, c32 := forwardBackward(t, l, conf, loc, labels, gtLoc)
	r64, c64 := forwardBackward(t, l, conf64, loc64, labels, gt64)
	if math.Abs(r32-r64) > 1e-5*r64 || math.Abs(c32-c64) > 1e-5*c64 {
		t.Errorf("float32 losses %g %g, float64 %g %g", r32, c32, r64, c64)
	}
}

func TestMultiboxErrors(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(6, 7)), 2, 10, 3, 0.3)
	l, _ := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	s := torch.NewScope()
	defer s.Close()
	tooBig := s.T(labels.MustAddScalar(s.Int(3), false))
	negative := s.T(labels.MustSubScalar(s.Int(1), false))
	int32Labels := s.T(labels.MustTotype(gotch.Int, false))
	loc64 := s.T(loc.MustTotype(gotch.Double, false))
	flat := s.T(loc.MustView([]int64{2, 40}, false))
	for _, c := range []struct {
		name                    string
		conf, loc, labels, gtLc *ts.Tensor
		errHas                  string
	}{
		{"nil", conf, nil, labels, gtLoc, "loc: nil"},
		{"label too big", conf, loc, tooBig, gtLoc, "want [0, 3)"},
		{"negative label", conf, loc, negative, gtLoc, "want [0, 3)"},
		{"int32 labels", conf, loc, int32Labels, gtLoc, "want int64"},
		{"loc dtype", conf, loc64, labels, gtLoc, "like conf"},
		{"loc shape", conf, flat, labels, gtLoc, "want [2 10 4]"},
		{"conf shape", flat, loc, labels, gtLoc, "want [B,P,C]"},
		{"labels shape", conf, loc, s.T(labels.MustView([]int64{20}, false)), gtLoc, "want [2 10]"},
	} {
		if _, _, err := l.Forward(c.conf, c.loc, c.labels, c.gtLc); err == nil || !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.errHas)
		}
	}
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := NewMultibox(MultiboxConfig{NegPosRatio: r, MatchIoU: DefaultMatchIoU}); err == nil {
			t.Errorf("neg_pos_ratio %g accepted", r)
		}
		if _, err := HardNegativeMining(conf, labels, r); err == nil {
			t.Errorf("HardNegativeMining accepted ratio %g", r)
		}
	}
	for _, m := range []float64{0, -0.5, 1.5, math.NaN()} {
		if _, err := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: m}); err == nil || !strings.Contains(err.Error(), "match_iou must be in (0, 1]") {
			t.Errorf("match_iou %g: error %v", m, err)
		}
	}
	for _, e := range []float64{-0.1, 1, math.NaN()} {
		if _, err := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: 0.5, LabelSmoothing: e}); err == nil || !strings.Contains(err.Error(), "label_smoothing must be in [0, 1)") {
			t.Errorf("label_smoothing %g: error %v", e, err)
		}
	}
	if _, err := HardNegativeMining(conf, labels, 3); err == nil || !strings.Contains(err.Error(), "want [B,P]") {
		t.Errorf("3-D background loss: error %v", err)
	}
}

func TestRegistry(t *testing.T) {
	spec, err := Registry.Lookup("multibox")
	if err != nil {
		t.Fatal(err)
	}
	if c := spec.NewConfig().(*MultiboxConfig); c.NegPosRatio != 3 || c.MatchIoU != 0.5 {
		t.Errorf("defaults neg_pos_ratio %g, match_iou %g; want 3 and the reference's 0.5", c.NegPosRatio, c.MatchIoU)
	}
	l, err := Build(registry.Ref{Type: "multibox", Options: map[string]any{"neg_pos_ratio": 1.5}})
	if err != nil {
		t.Fatal(err)
	}
	if r := l.(*Multibox).negPosRatio; r != 1.5 {
		t.Errorf("neg_pos_ratio %g, want 1.5", r)
	}
	if m, ok := l.(Matching); !ok || m.MatchIoU() != 0.5 {
		t.Errorf("multibox: match IoU %v (Matching %v), want 0.5", l, ok)
	}
	if l, err := Build(registry.Ref{Type: "multibox", Options: map[string]any{"match_iou": 0.35}}); err != nil || l.(Matching).MatchIoU() != 0.35 {
		t.Errorf("match_iou 0.35: %v, %v", l, err)
	}
	if _, err := Build(registry.Ref{Type: "multibox", Options: map[string]any{"neg_pos_ratio": -2.0}}); err == nil {
		t.Error("negative neg_pos_ratio accepted")
	}
	if _, err := Build(registry.Ref{Type: "focal"}); err == nil {
		t.Error("unknown loss accepted")
	}
}

// TestMultiboxMemory checks that forward + backward frees everything: the C heap must not
// grow over many steps.
func TestMultiboxMemory(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(8, 9)), 4, 500, 6, 0.05)
	l, _ := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	g, err := torch.MeasureGrowth(20, 300, func(int) error {
		reg, cls, err := l.Forward(conf, loc, labels, gtLoc)
		if err != nil {
			return err
		}
		total := reg.MustAdd(cls, false)
		err = total.Backward()
		total.MustDrop()
		reg.MustDrop()
		cls.MustDrop()
		if err != nil {
			return err
		}
		if err := torch.ZeroGrad(conf); err != nil {
			return err
		}
		return torch.ZeroGrad(loc)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per forward+backward: C heap %+.1f bytes, RSS %+.1f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > 256 {
		t.Errorf("the C heap grew by %.1f bytes per step, want <= 256 (a leaked tensor costs more)", g.MallocPerStep())
	}
}

// BenchmarkMultiboxLoss times forward + backward of the loss on a batch of 32 images with
// the MobileNet prior count (3000) and 21 classes, ~1% of the priors positive.
func BenchmarkMultiboxLoss(b *testing.B) {
	conf, loc, labels, gtLoc := randomBatch(b, rand.New(rand.NewPCG(10, 11)), 32, 3000, 21, 0.01)
	l, _ := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		forwardBackward(b, l, conf, loc, labels, gtLoc)
		if err := torch.ZeroGrad(conf); err != nil {
			b.Fatal(err)
		}
		if err := torch.ZeroGrad(loc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMultiboxLibtorchError gives Forward a conf that passes its checks (shape [B,P,C],
// float32, CPU) but that libtorch cannot compute with: a sparse tensor. The failing op is a
// gotch Must* call inside the loss, which panics (the patched gotch; unpatched it would
// exit the process); Forward must return the error, and the process goes on.
func TestMultiboxLibtorchError(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(8, 9)), 2, 10, 3, 0.3)
	sparse := conf.MustDetach(false).MustToSparse(true)
	defer sparse.MustDrop()
	l, _ := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	reg, cls, err := l.Forward(sparse, loc, labels, gtLoc)
	if err == nil || !strings.Contains(err.Error(), "Libtorch API Error") || reg != nil || cls != nil {
		t.Fatalf("sparse conf: %v, %v, error %v; want no losses and libtorch's error", reg, cls, err)
	}
	t.Logf("error: %s", strings.SplitN(err.Error(), "\n", 2)[0])
	// The loss still works afterwards.
	if _, _, err := l.Forward(conf, loc, labels, gtLoc); err != nil {
		t.Fatal(err)
	}
}

// TestMultiboxLabelSmoothing checks label_smoothing against its definition without
// re-implementing the mining: with the same kept priors, the smoothed classification loss
// is affine in e, (1 - e)·CE + e·U with U the mean over classes of -log p, so the loss at
// e = 0.3 is 0.7 times the loss at 0 plus 0.3 times U; U does not depend on which
// positive class a prior has (the mining only asks whether it is positive), so relabelling
// the positives leaves the loss at e -> 1 (here 0.999, giving 0.001·CE + 0.999·U) nearly
// unchanged while it moves the plain loss. The regression loss ignores e. The tolerance,
// 1e-5 of the loss, is float32 summation order over a few hundred terms of order 1.
func TestMultiboxLabelSmoothing(t *testing.T) {
	conf, loc, labels, gtLoc := randomBatch(t, rand.New(rand.NewPCG(8, 9)), 3, 200, 5, 0.1)
	losses := func(e float64, labels *ts.Tensor) (float64, float64) {
		l, err := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: 0.5, LabelSmoothing: e})
		if err != nil {
			t.Fatal(err)
		}
		reg, cls, err := l.Forward(conf, loc, labels, gtLoc)
		if err != nil {
			t.Fatal(err)
		}
		return reg.Float64Values(true)[0], cls.Float64Values(true)[0]
	}
	r0, c0 := losses(0, labels)
	r3, c3 := losses(0.3, labels)
	_, c1 := losses(0.999, labels)
	u := (c1 - 0.001*c0) / 0.999
	if r3 != r0 {
		t.Errorf("regression loss %g with smoothing, %g without", r3, r0)
	}
	if want := 0.7*c0 + 0.3*u; math.Abs(c3-want) > 1e-5*want {
		t.Errorf("classification at e=0.3: %g, want 0.7·%g + 0.3·%g = %g", c3, c0, u, want)
	}
	// Relabel every positive: class k becomes k mod 4 + 1 (still in 1..4).
	s := torch.NewScope()
	defer s.Close()
	pos := s.T(labels.MustGt(s.Int(0), false))
	shifted := s.T(s.T(s.T(labels.MustRemainder(s.Int(4), false)).MustAddScalar(s.Int(1), false)).MustMul(pos, false))
	_, c0r := losses(0, shifted)
	_, c1r := losses(0.999, shifted)
	if math.Abs(c0r-c0) < 1e-3*c0 {
		t.Fatalf("relabelling the positives left the plain loss at %g: the test does not exercise it", c0)
	}
	if want := c1 + 0.001*(c0r-c0); math.Abs(c1r-want) > 1e-5*c1 {
		t.Errorf("at e=0.999 after relabelling: %g, want %g (only the 0.001·CE part moves)", c1r, want)
	}
}
