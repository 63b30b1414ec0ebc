package torch

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestCountOps(t *testing.T) {
	a := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	counts, err := CountOps(func() error {
		for i := 0; i < 3; i++ {
			b := a.MustAdd(a, false)
			c := b.MustMul(a, false)
			b.MustDrop()
			c.MustDrop()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts["aten::add"] != 3 || counts["aten::mul"] != 3 {
		t.Errorf("counts = %v, want aten::add and aten::mul 3 times each", counts)
	}
	// counting has stopped
	after, err := CountOps(func() error { return nil })
	if err != nil || len(after) != 0 {
		t.Errorf("an empty run counted %v (%v)", after, err)
	}
}
