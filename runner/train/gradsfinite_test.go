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
		got, err := tr.gradsFinite(s)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s: gradsFinite = %v, want %v", c.name, got, c.want)
		}
		s.Close()
	}
}
