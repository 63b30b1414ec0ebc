package nn

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

func minMax(t *testing.T, x *ts.Tensor) (float64, float64) {
	t.Helper()
	lo := x.MustMin(false)
	hi := x.MustMax(false)
	defer lo.MustDrop()
	defer hi.MustDrop()
	return lo.Float64Values()[0], hi.Float64Values()[0]
}

func TestConvInit(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	c := NewConv2d(vs.Root().Sub("c"), ConvSpec{In: 8, Out: 16, Kernel: 3, Groups: 2})
	bound := 1 / math.Sqrt(4*3*3)
	for _, p := range []*ts.Tensor{c.Weight, c.Bias} {
		lo, hi := minMax(t, p)
		if lo < -bound || hi > bound || hi-lo < bound {
			t.Errorf("init range [%v, %v], want within ±%v and spread", lo, hi, bound)
		}
	}
	bn := NewBatchNorm2d(vs.Root().Sub("bn"), 4)
	if lo, hi := minMax(t, bn.Weight); lo != 1 || hi != 1 {
		t.Errorf("batch-norm weight init [%v, %v], want 1", lo, hi)
	}
	nb := NewConv2d(vs.Root().Sub("nb"), ConvSpec{In: 3, Out: 4, Kernel: 1, NoBias: true})
	if nb.Bias != nil {
		t.Error("NoBias convolution has a bias")
	}
	if _, err := vs.Root().Get("nb.bias"); err == nil {
		t.Error("NoBias convolution created a bias variable")
	}
}

// TestSeqInPlace checks that in-place activations never touch the caller's input and do
// apply to intermediates.
func TestSeqInPlace(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	s := NewSeq(vs.Root().Sub("s")).ReLU().ReLU6()
	x := ts.MustRandn([]int64{1, 2, 4, 4}, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(10), true)
	defer x.MustDrop()
	y := s.Forward(x, false)
	defer y.MustDrop()
	if lo, hi := minMax(t, y); lo < 0 || hi > 6 {
		t.Errorf("relu then relu6 gives [%v, %v]", lo, hi)
	}
	if lo, hi := minMax(t, x); lo >= 0 || hi <= 6 {
		t.Errorf("input changed: now in [%v, %v]", lo, hi)
	}
	e := s.ForwardRange(x, false, 1, 1)
	defer e.MustDrop()
	if lo, _ := minMax(t, e); lo >= 0 {
		t.Error("an empty range did not return x's values")
	}
	if s.Len() != 2 {
		t.Errorf("len %d", s.Len())
	}
}

func TestRecover(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	s := NewSeq(vs.Root().Sub("s")).Conv(ConvSpec{In: 2, Out: 2, Kernel: 3})
	x := ts.MustZeros([]int64{1, 2, 1, 1}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	run := func() (err error) {
		defer torch.Recover(&err)
		y := s.Forward(x, false)
		y.MustDrop()
		return nil
	}
	err := run()
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "conv2d" || !strings.Contains(err.Error(), "conv2d") {
		t.Errorf("a too-small input gave %v, want an *OpError from conv2d", err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Errorf("torch.Recover swallowed or altered a foreign panic: %v", r)
		}
	}()
	func() {
		var err error
		defer torch.Recover(&err)
		panic("other")
	}()
}
