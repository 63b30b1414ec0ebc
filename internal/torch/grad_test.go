package torch

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestClearGrad: the gradient is undefined afterwards, its memory is freed, and the next
// backward pass sets it to that pass's gradient (not added to the old one).
func TestClearGrad(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := leafRequiringGrad(t)
	if err := ClearGrad(p); err != nil { // no gradient yet
		t.Fatal(err)
	}
	backward := func(x *ts.Tensor) {
		s := NewScope()
		defer s.Close()
		loss := s.T(s.T(x.MustMul(x, false)).MustSum(gotch.Float, false))
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
	}
	defined := func(x *ts.Tensor) bool {
		g := x.MustGrad(false)
		defer g.MustDrop()
		return g.MustDefined()
	}
	backward(p)
	backward(p)
	g := p.MustGrad(false)
	if got, want := values(g), []float64{4, 4, 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("grad after two backward passes = %v, want %v", got, want)
	}
	g.MustDrop()
	if err := ClearGrad(p); err != nil {
		t.Fatal(err)
	}
	if defined(p) {
		t.Fatal("grad still defined after ClearGrad")
	}
	backward(p)
	g = p.MustGrad(false)
	if got, want := values(g), []float64{2, 2, 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("grad after ClearGrad and backward = %v, want %v (not accumulated)", got, want)
	}
	g.MustDrop()

	// the gradient's memory goes with it
	big := mibTensor(1).MustSetRequiresGrad(true, true)
	defer big.MustDrop()
	backward(big)
	if d := heapDelta(t, func() {
		if err := ClearGrad(big); err != nil {
			t.Fatal(err)
		}
	}); d > -mib+heapSlack {
		t.Errorf("clearing a 1 MiB gradient changed the C heap by %d bytes, want about -%d", d, mib)
	}
}
