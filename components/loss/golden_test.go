package loss

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// Sizes of the golden batch (components/target/testdata/gen_golden.py).
const (
	goldenBatch   = 4
	goldenPriors  = 3000
	goldenClasses = 21
)

// loadNpz reads testdata/name (written by components/target/testdata/gen_golden.py from
// the reference) into named tensors that the test frees at cleanup.
func loadNpz(t testing.TB, name string) map[string]*ts.Tensor {
	t.Helper()
	named, err := ts.ReadNpz(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*ts.Tensor, len(named))
	for _, n := range named {
		out[n.Name] = n.Tensor
		t.Cleanup(n.Tensor.MustDrop)
	}
	return out
}

// hashValues returns n values on a 2^-24 grid in [-scale/2, scale/2) from an integer hash
// of the index: gen_golden.py's hash_values, bit for bit (every step is exact).
func hashValues(n int, seed uint64, scale float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		h := (uint64(i)*2654435761 + seed) & 0xFFFFFFFF
		h ^= h >> 15
		h = (h * 2246822519) & 0xFFFFFFFF
		h ^= h >> 13
		u := float64(h>>8) / (1 << 24)
		out[i] = float32((u - 0.5) * scale)
	}
	return out
}

// goldenPredictions rebuilds the reference run's predictions as leaf tensors that require
// grad: conf [4,3000,21] (image 1 repeats 4 rows, so its background losses tie) and loc
// [4,3000,4]. The test frees them at cleanup.
func goldenPredictions(t testing.TB) (conf, loc *ts.Tensor) {
	t.Helper()
	c := hashValues(goldenBatch*goldenPriors*goldenClasses, 1, 8)
	img := goldenPriors * goldenClasses
	for p := 0; p < goldenPriors; p++ {
		copy(c[img+p*goldenClasses:img+(p+1)*goldenClasses], c[img+(p%4)*goldenClasses:])
	}
	l := hashValues(goldenBatch*goldenPriors*4, 2, 2)
	conf = leaf(t, c, goldenBatch, goldenPriors, goldenClasses)
	loc = leaf(t, l, goldenBatch, goldenPriors, 4)
	return conf, loc
}

// leaf makes a float32 tensor that requires grad; the test frees it at cleanup.
func leaf(t testing.TB, data []float32, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(data, shape)
	if err != nil {
		t.Fatal(err)
	}
	x = x.MustSetRequiresGrad(true, true)
	t.Cleanup(x.MustDrop)
	return x
}

// goldenTargets returns the golden labels (as int64) and target locations.
func goldenTargets(t testing.TB, g map[string]*ts.Tensor) (labels, gtLoc *ts.Tensor) {
	t.Helper()
	labels = g["labels"].MustTotype(gotch.Int64, false)
	t.Cleanup(labels.MustDrop)
	return labels, g["gt_loc"]
}

// backgroundLoss is -log softmax(conf)[...,0] without gradient, as the reference computes
// it; the caller frees it.
func backgroundLoss(conf *ts.Tensor) *ts.Tensor {
	s := torch.NewScope()
	defer s.Close()
	d := s.T(conf.MustDetach(false))
	lp := s.T(d.MustLogSoftmax(2, gotch.Float, false))
	return s.T(lp.MustSelect(2, 0, false)).MustNeg(false)
}

func TestHardNegativeMiningGolden(t *testing.T) {
	g := loadNpz(t, "loss_golden.npz")
	conf, _ := goldenPredictions(t)
	labels, _ := goldenTargets(t, g)
	bg := backgroundLoss(conf)
	defer bg.MustDrop()
	for _, c := range []struct {
		ratio float64
		key   string
	}{{3, "mask"}, {1, "mask_ratio1"}} {
		mask, err := HardNegativeMining(bg, labels, c.ratio)
		if err != nil {
			t.Fatal(err)
		}
		if mask.DType() != gotch.Bool {
			t.Errorf("mask dtype %v, want bool", mask.DType())
		}
		got, want := mask.Int64Values(true), g[c.key].Int64Values()
		diff, perImage := 0, make([]int, goldenBatch)
		for i := range want {
			if got[i] != want[i] {
				diff++
			}
			if got[i] != 0 {
				perImage[i/goldenPriors]++
			}
		}
		t.Logf("ratio %g: selected per image %v, %d entries differ", c.ratio, perImage, diff)
		if diff != 0 {
			t.Errorf("ratio %g: %d of %d mask entries differ from the reference", c.ratio, diff, len(want))
		}
	}
}

func TestMultiboxGolden(t *testing.T) {
	g := loadNpz(t, "loss_golden.npz")
	conf, loc := goldenPredictions(t)
	labels, gtLoc := goldenTargets(t, g)
	l, err := NewMultibox(MultiboxConfig{NegPosRatio: 3, MatchIoU: DefaultMatchIoU})
	if err != nil {
		t.Fatal(err)
	}
	reg, cls, err := l.Forward(conf, loc, labels, gtLoc)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.MustDrop()
	defer cls.MustDrop()
	if reg.Dim() != 0 || cls.Dim() != 0 {
		t.Fatalf("losses have shapes %v and %v, want 0-dim", reg.MustSize(), cls.MustSize())
	}
	want := g["losses"].Float64Values()
	for i, got := range []float64{reg.Float64Values()[0], cls.Float64Values()[0]} {
		// The losses are float32 sums over every prior of the batch (thousands of terms),
		// summed in an order that depends on the CPU's kernels and threads: pairwise
		// summation keeps each within ~log2(n)·2^-24 ≈ 1e-6 of the sum of |terms|, so 1e-5
		// relative is safe, and a wrong mining or weighting moves the loss by 1e-3 or more.
		rel := math.Abs(got-want[i]) / math.Abs(want[i])
		t.Logf("%s loss %.7f, reference %.7f (relative difference %.2g)", []string{"regression", "classification"}[i], got, want[i], rel)
		if !(rel <= 1e-5) {
			t.Errorf("%s loss %g, reference %g", []string{"regression", "classification"}[i], got, want[i])
		}
	}

	total := reg.MustAdd(cls, false)
	defer total.MustDrop()
	if err := total.Backward(); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	confGrad, locGrad := s.T(conf.MustGrad(false)), s.T(loc.MustGrad(false))
	mask := s.T(s.T(g["mask"].MustGt(s.Int(0), false)).MustUnsqueeze(2, false))
	pos := s.T(s.T(labels.MustGt(s.Int(0), false)).MustUnsqueeze(2, false))
	compareGrad(t, "conf (masked rows)", s.T(confGrad.MustMaskedSelect(mask, false)).Float64Values(), g["grad_conf_masked"].Float64Values())
	compareGrad(t, "loc (positive rows)", s.T(locGrad.MustMaskedSelect(pos, false)).Float64Values(), g["grad_loc_positive"].Float64Values())

	// Every other entry must be zero: compare sums and sums of absolute values.
	sums := g["grad_sums"].Float64Values()
	for i, x := range []*ts.Tensor{confGrad, locGrad, s.T(confGrad.MustAbs(false)), s.T(locGrad.MustAbs(false))} {
		got := s.T(x.MustSum(gotch.Double, false)).Float64Values()[0]
		// Relative to the sum of |gradient|: the float64 sum of float32 entries is exact up
		// to the entries' own rounding, which compareGrad bounds by 1e-5.
		if math.Abs(got-sums[i]) > 1e-5*math.Abs(sums[2+i%2]) {
			t.Errorf("gradient sum %d: %g, reference %g", i, got, sums[i])
		}
	}
}

// compareGrad checks got against the reference's autograd to 1e-5 of the largest
// reference magnitude: softmax gradients over 21 classes and smooth-L1's are element-wise
// but divided by the positive count and scaled by a log-sum-exp that libtorch's
// vectorised kernels round differently per CPU (a few ulps, ~1e-6 relative); a wrong
// mask or normalisation is off by a whole entry.
func compareGrad(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d gradient entries, reference %d", name, len(got), len(want))
	}
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	t.Logf("%s gradient: %d entries, max |diff| %.3g (largest %.3g)", name, len(want), worst, scale)
	if !(worst <= 1e-5*scale) {
		t.Errorf("%s gradient differs from the reference's autograd by up to %g (largest entry %g)", name, worst, scale)
	}
}
