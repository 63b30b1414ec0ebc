package torch

import (
	"errors"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// requiresGradOfProduct reports whether an op on a tensor that requires grad records a
// graph on the current thread.
func requiresGradOfProduct(t *testing.T, x *ts.Tensor) bool {
	t.Helper()
	s := NewScope()
	defer s.Close()
	return s.T(x.MustMulScalar(s.Float(2), false)).MustRequiresGrad()
}

func leafRequiringGrad(t *testing.T) *ts.Tensor {
	x := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	t.Cleanup(x.MustDrop)
	return x
}

func TestNoGrad(t *testing.T) {
	runtime.LockOSThread() // the grad mode is per OS thread
	defer runtime.UnlockOSThread()
	x := leafRequiringGrad(t)
	if !requiresGradOfProduct(t, x) {
		t.Fatal("grad recording is off before NoGrad")
	}
	err := NoGrad(func() error {
		if requiresGradOfProduct(t, x) {
			t.Error("inside NoGrad an op recorded a graph")
		}
		return NoGrad(func() error { // nested: restores "off"
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !requiresGradOfProduct(t, x) {
		t.Error("grad recording not restored after NoGrad")
	}
	// Inside a nested NoGrad that returned, recording must still be off.
	_ = NoGrad(func() error {
		_ = NoGrad(func() error { return nil })
		if requiresGradOfProduct(t, x) {
			t.Error("an inner NoGrad switched recording back on")
		}
		return nil
	})
}

func TestNoGradErrorAndPanic(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	x := leafRequiringGrad(t)
	fail := errors.New("fail")
	if err := NoGrad(func() error { return fail }); !errors.Is(err, fail) {
		t.Errorf("NoGrad returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic value", r)
			}
		}()
		_ = NoGrad(func() error { panic("boom") })
	}()
	if !requiresGradOfProduct(t, x) {
		t.Error("grad recording not restored after an error and a panic")
	}
}

// SetGradEnabled reports the previous mode exactly, call after call (gotch's
// GradSetEnabled returns garbage in the upper half of its result).
func TestSetGradEnabled(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := SetGradEnabled(true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = SetGradEnabled(orig) }()
	want := true
	for i, on := range []bool{true, false, false, true, false, true, true, false, true} {
		prev, err := SetGradEnabled(on)
		if err != nil {
			t.Fatal(err)
		}
		if prev != want {
			t.Errorf("call %d: previous mode %v, want %v", i, prev, want)
		}
		want = on
	}
}
