package backbone

import (
	"errors"
	"testing"

	"github.com/sugarme/gotch"
	gnn "github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/components/nn"
)

// TestRecoverForward checks the deferred error path of the backbones' Forward: an
// *OpError panic after some feature maps were made becomes the error and leaves no
// feature maps; a foreign panic goes on.
func TestRecoverForward(t *testing.T) {
	vs := gnn.NewVarStore(gotch.CPU)
	s := nn.NewSeq(vs.Root().Sub("s")).Conv(nn.ConvSpec{In: 2, Out: 2, Kernel: 3})
	x := ts.MustZeros([]int64{1, 2, 1, 1}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	forward := func() (feats []*ts.Tensor, err error) {
		defer recoverForward(&feats, &err)
		feats = append(feats, ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU))
		feats = append(feats, s.Forward(x, false)) // too small: panics with an *OpError
		return feats, nil
	}
	feats, err := forward()
	var oe *nn.OpError
	if !errors.As(err, &oe) || feats != nil {
		t.Errorf("got %d feature maps and %v, want none and an *OpError", len(feats), err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Errorf("recoverForward swallowed or altered a foreign panic: %v", r)
		}
	}()
	func() (feats []*ts.Tensor, err error) {
		defer recoverForward(&feats, &err)
		panic("other")
	}()
}
