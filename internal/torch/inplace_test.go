package torch

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func values(x *ts.Tensor) []float64 { return x.Float64Values() }

func TestInPlaceModifiesAndKeepsHandle(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := s.T(ts.MustOfSlice([]float32{1, 2, -3}))
	handle := x.Ctensor()
	cp := *x // a copy sharing the handle, like those VarStore.Variables returns
	one := s.T(ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU))
	if err := InPlace(x, func(x *ts.Tensor) error { return x.Sub_(one) }); err != nil {
		t.Fatal(err)
	}
	if err := InPlace(x, (*ts.Tensor).Relu_); err != nil {
		t.Fatal(err)
	}
	if x.Ctensor() != handle {
		t.Error("InPlace replaced the tensor's handle")
	}
	if got, want := values(x), []float64{0, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("x = %v, want %v", got, want)
	}
	if got, want := values(&cp), []float64{0, 1, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("copy = %v, want %v", got, want)
	}
}

func TestInPlaceError(t *testing.T) {
	// gotch's error state is per OS thread (see InPlace): the checks below run on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := NewScope()
	defer s.Close()
	x := s.T(ts.MustOfSlice([]float32{1, 2, 3}))
	wrong := s.T(ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU))
	if err := InPlace(x, func(x *ts.Tensor) error { return x.Sub_(wrong) }); err == nil {
		t.Fatal("no error for mismatched shapes")
	}
	if got, want := values(x), []float64{1, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the failed op x = %v, want %v", got, want)
	}
}

// InPlace leaves nothing behind; gotch's bare in-place call keeps the whole tensor alive
// after it is dropped (the reason InPlace exists; if gotch is fixed, this test says so).
func TestInPlaceFreesWhatGotchLeaks(t *testing.T) {
	mibTensor(0).MustDrop()
	d := heapDelta(t, func() {
		x := mibTensor(-1)
		if err := InPlace(x, (*ts.Tensor).Relu_); err != nil {
			t.Error(err)
		}
		x.MustDrop()
	})
	if d > heapSlack || d < -heapSlack {
		t.Errorf("InPlace + drop: C heap changed by %d bytes, want |change| <= %d", d, heapSlack)
	}
	d = heapDelta(t, func() {
		x := mibTensor(-1)
		x.MustRelu_()
		x.MustDrop()
	})
	if d < mib {
		t.Errorf("gotch's Relu_ + drop kept %d bytes; it used to keep the 1 MiB tensor: InPlace may no longer be needed", d)
	}
}

func TestZeroGrad(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := leafRequiringGrad(t)
	if err := ZeroGrad(p); err != nil { // no gradient yet
		t.Fatal(err)
	}
	backward := func() {
		s := NewScope()
		defer s.Close()
		loss := s.T(s.T(p.MustMul(p, false)).MustSum(gotch.Float, false))
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
	}
	grad := func() []float64 {
		g := p.MustGrad(false)
		defer g.MustDrop()
		return values(g)
	}
	backward()
	if got, want := grad(), []float64{2, 2, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("grad = %v, want %v", got, want)
	}
	if err := ZeroGrad(p); err != nil {
		t.Fatal(err)
	}
	if got, want := grad(), []float64{0, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("grad after ZeroGrad = %v, want %v", got, want)
	}
	backward()
	if got, want := grad(), []float64{2, 2, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("grad after ZeroGrad and backward = %v, want %v", got, want)
	}
	d := heapDelta(t, func() {
		for i := 0; i < 2000; i++ {
			if err := ZeroGrad(p); err != nil {
				t.Fatal(err)
			}
		}
	})
	if d > heapSlack { // gotch's Tensor.ZeroGrad: about 100 bytes per call, 200 KB here
		t.Errorf("2000 ZeroGrad calls kept %d bytes of C heap", d)
	}
}

func TestManualSeed(t *testing.T) {
	draw := func(seed int64) []float64 {
		ManualSeed(seed)
		x := ts.MustRandn([]int64{5}, gotch.Float, gotch.CPU)
		defer x.MustDrop()
		return values(x)
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different draws: %v vs %v", a, b)
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("seeds 7 and 8 drew the same values %v", a)
	}
}
