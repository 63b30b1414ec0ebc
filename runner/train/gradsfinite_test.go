package train

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestGradsFinite plants one value in one parameter's gradient: a NaN or an infinity of
// either sign is found, a huge finite value (whose float32 sum over the tensor would
// overflow) is not mistaken for one, and parameters without a gradient are passed over.
func TestGradsFinite(t *testing.T) {
	for _, c := range []struct {
		name string
		v    float64
		want bool
	}{
		{"finite", 0.25, true},
		{"huge", 3e38, true},
		{"nan", math.NaN(), false},
		{"+inf", math.Inf(1), false},
		{"-inf", math.Inf(-1), false},
	} {
		s := torch.NewScope()
		a := s.T(ts.MustOnes([]int64{3, 4}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
		b := s.T(ts.MustOnes([]int64{5}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
		frozen := s.T(ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU))
		w := make([]float32, 12)
		for i := range w {
			w[i] = 0.5
			if i == 7 {
				w[i] = 0.5 * float32(c.v) // 2 of them make the sum overflow
			}
			if i == 8 && c.name == "huge" {
				w[i] = float32(c.v)
			}
		}
		wt := s.T(s.T(ts.MustOfSlice(w)).MustView([]int64{3, 4}, false))
		prod := s.T(a.MustMul(wt, false))
		loss := s.T(s.T(prod.MustSum(gotch.Float, false)).MustAdd(s.T(b.MustSum(gotch.Float, false)), false))
		loss.MustBackward() // a's gradient is w, b's is ones
		tr := &trainer{vars: map[string]*ts.Tensor{"a": a, "b": b, "frozen": frozen}}
		grads, err := tr.grads(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.gradsFinite(s, grads)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: gradsFinite = %v, want %v", c.name, got, c.want)
		}
		s.Close()
	}
}

// TestClipGrads checks clip_grad_norm against torch's definition on gradients of known
// norms: a's gradient [3 4] and b's [12] have a global L2 norm of 13, so a limit of 6.5
// scales both by 6.5 / (13 + 1e-6) (to float32 rounding: 1e-6 relative), a limit of 20 or
// 0 leaves them bit for bit, and a parameter without a gradient is passed over.
func TestClipGrads(t *testing.T) {
	for _, c := range []struct {
		clip  float64
		scale float64
	}{{6.5, 6.5 / (13 + 1e-6)}, {20, 1}, {0, 1}} {
		s := torch.NewScope()
		a := s.T(ts.MustZeros([]int64{2}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
		b := s.T(ts.MustZeros([]int64{1}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true))
		frozen := s.T(ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU))
		wa := s.T(ts.MustOfSlice([]float32{3, 4}))
		wb := s.T(ts.MustOfSlice([]float32{12}))
		loss := s.T(s.T(s.T(a.MustMul(wa, false)).MustSum(gotch.Float, false)).MustAdd(s.T(s.T(b.MustMul(wb, false)).MustSum(gotch.Float, false)), false))
		loss.MustBackward()
		tr := &trainer{vars: map[string]*ts.Tensor{"a": a, "b": b, "frozen": frozen}, clip: c.clip}
		grads, err := tr.grads(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.clipGrads(s, grads); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string][]float64{"a": {3, 4}, "b": {12}} {
			g := s.T(tr.vars[name].MustGrad(false))
			got := g.Float64Values(false)
			for i := range want {
				w := want[i] * c.scale
				if (c.scale == 1 && got[i] != w) || math.Abs(got[i]-w) > 1e-6*w {
					t.Errorf("clip %g: %s gradient %v, want %v scaled by %g", c.clip, name, got, want, c.scale)
				}
			}
		}
		s.Close()
	}
}
