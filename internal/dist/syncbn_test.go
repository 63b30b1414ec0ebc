package dist

import (
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/ssdrunner/ssdrunner/internal/torch"
)

func init() {
	workers["syncbn"] = syncBNWorker
	workers["syncbn-chain"] = syncBNChain
}

// syncBNShares are the batch sizes of the ranks in the sync batch norm test, by world
// size: uneven, and with an empty rank for 3.
var syncBNShares = map[int][]int64{2: {3, 5}, 3: {4, 0, 3}}

// syncBNSlice returns the global batch size of the test's shares for g's world size,
// where g's rank's slice of it starts, and its length.
func syncBNSlice(g *Group) (n, off, mine int64) {
	shares := syncBNShares[g.World()]
	for r, k := range shares {
		if r < g.Rank() {
			off += k
		}
		n += k
	}
	return n, off, shares[g.Rank()]
}

// syncBNWorker checks SyncBatchNorm against libtorch's batch_norm on the concatenated
// batch: every rank draws the same global input (channels offset by up to 100, so that a
// sum-of-squares variance would lose digits), normalises its slice with SyncBatchNorm,
// back-propagates a fixed random weighting of the output, and compares the output, the
// input gradient, the summed weight and bias gradients and the running statistics with
// what one process computes on the whole batch.
func syncBNWorker(g *Group) (err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	n, off, mine := syncBNSlice(g)
	const c = 3
	torch.ManualSeed(7)
	offset := s.T(torch.MulScalar(s.T(ts.MustArange(ts.IntScalar(c), gotch.Float, gotch.CPU)), 50)).MustView([]int64{1, c, 1, 1}, false)
	s.T(offset)
	xAll := s.T(s.T(ts.MustRandn([]int64{n, c, 4, 5}, gotch.Float, gotch.CPU)).MustAdd(offset, false))
	gAll := s.T(ts.MustRandn([]int64{n, c, 4, 5}, gotch.Float, gotch.CPU))
	w0 := s.T(ts.MustRand([]int64{c}, gotch.Float, gotch.CPU))
	b0 := s.T(ts.MustRandn([]int64{c}, gotch.Float, gotch.CPU))

	// this rank, synchronised
	x := s.T(s.T(xAll.MustNarrow(0, off, mine, false)).MustDetach(false))
	x.MustRequiresGrad_(true)
	w := s.T(w0.MustDetach(false))
	w.MustRequiresGrad_(true)
	b := s.T(b0.MustDetach(false))
	b.MustRequiresGrad_(true)
	rm := s.T(ts.MustZeros([]int64{c}, gotch.Float, gotch.CPU))
	rv := s.T(ts.MustOnes([]int64{c}, gotch.Float, gotch.CPU))
	y, err := g.SyncBatchNorm(x, w, b, rm, rv, 0.1, 1e-5)
	if err != nil {
		return err
	}
	s.T(y)
	gx := s.T(gAll.MustNarrow(0, off, mine, false))
	if err := s.T(s.T(y.MustMul(gx, false)).MustSum(gotch.Float, false)).Backward(); err != nil {
		return err
	}
	dw := s.T(w.MustGrad(false))
	db := s.T(b.MustGrad(false))
	if err := g.AllReduce(Sum, dw, db); err != nil {
		return err
	}

	// one process, the whole batch
	xr := s.T(xAll.MustDetach(false))
	xr.MustRequiresGrad_(true)
	wr := s.T(w0.MustDetach(false))
	wr.MustRequiresGrad_(true)
	br := s.T(b0.MustDetach(false))
	br.MustRequiresGrad_(true)
	rmr := s.T(ts.MustZeros([]int64{c}, gotch.Float, gotch.CPU))
	rvr := s.T(ts.MustOnes([]int64{c}, gotch.Float, gotch.CPU))
	yr := s.T(ts.MustBatchNorm(xr, wr, br, rmr, rvr, true, 0.1, 1e-5, true))
	if err := s.T(s.T(yr.MustMul(gAll, false)).MustSum(gotch.Float, false)).Backward(); err != nil {
		return err
	}
	yrMine := s.T(yr.MustNarrow(0, off, mine, false))
	dxr := s.T(s.T(xr.MustGrad(false)).MustNarrow(0, off, mine, false))

	// float32 results computed in another order: relative to the tensor's magnitude, a few
	// float32 roundings (1e-7 each) of headroom; a wrong formula is off by 1e-2 or more
	const tol = 1e-5
	for _, c := range []struct {
		name      string
		got, want *ts.Tensor
	}{
		{"output", y, yrMine},
		{"input gradient", s.T(x.MustGrad(false)), dxr},
		{"weight gradient", dw, s.T(wr.MustGrad(false))},
		{"bias gradient", db, s.T(br.MustGrad(false))},
		{"running mean", rm, rmr},
		{"running var", rv, rvr},
	} {
		if c.want.Numel() == 0 {
			continue
		}
		diff := s.T(s.T(c.got.MustSub(c.want, false)).MustAbs(false)).MustMax(false)
		scale := s.T(c.want.MustAbs(false)).MustMax(false)
		d, m := s.T(diff).Float64Values()[0], s.T(scale).Float64Values()[0]
		if d > tol*math.Max(m, 1e-12) {
			return fmt.Errorf("%s: differs by %.3g (magnitude %.3g)", c.name, d, m)
		}
	}
	return nil
}

func TestSyncBatchNormMatchesOneBatch(t *testing.T) {
	for _, world := range []int{2, 3} {
		t.Run(strconv.Itoa(world), func(t *testing.T) {
			for _, r := range spawn(t, "syncbn", world, 30*time.Second, 60*time.Second) {
				if r.code != 0 {
					t.Errorf("rank %d exited with %d:\n%s%s", r.rank, r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}

// syncBNChain: three blocks conv → batch norm → in-place ReLU (several synchronised batch
// norms in one backward pass, with equal channel counts), against one process.
func syncBNChain(g *Group) (err error) {
	defer torch.Recover(&err)
	s := torch.NewScope()
	defer s.Close()
	n, off, mine := syncBNSlice(g)
	const c = 4
	torch.ManualSeed(11)
	xAll := s.T(ts.MustRandn([]int64{n, c, 6, 6}, gotch.Float, gotch.CPU))
	gAll := s.T(ts.MustRandn([]int64{n, c, 6, 6}, gotch.Float, gotch.CPU))
	var ws0 []*ts.Tensor
	for i := range 3 {
		in := int64(c)
		if i == 1 {
			in = 1 // depthwise, as MobileNet's
		}
		ws0 = append(ws0, s.T(ts.MustRandn([]int64{c, in, 3, 3}, gotch.Float, gotch.CPU)))
	}
	run := func(x *ts.Tensor, syncd bool) (*ts.Tensor, []*ts.Tensor, error) {
		var ws []*ts.Tensor
		cur := x
		for i := range 3 {
			w := s.T(ws0[i].MustDetach(false))
			w.MustRequiresGrad_(true)
			ws = append(ws, w)
			groups := int64(1)
			if i == 1 {
				groups = c
			}
			h := s.T(ts.MustConv2d(cur, w, ts.None, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, groups))
			bw := s.T(ts.MustOnes([]int64{c}, gotch.Float, gotch.CPU))
			bw.MustRequiresGrad_(true)
			bb := s.T(ts.MustZeros([]int64{c}, gotch.Float, gotch.CPU))
			bb.MustRequiresGrad_(true)
			rm := s.T(ts.MustZeros([]int64{c}, gotch.Float, gotch.CPU))
			rv := s.T(ts.MustOnes([]int64{c}, gotch.Float, gotch.CPU))
			var y *ts.Tensor
			if syncd {
				var err error
				if y, err = g.SyncBatchNorm(h, bw, bb, rm, rv, 0.1, 1e-5); err != nil {
					return nil, nil, err
				}
			} else {
				y = ts.MustBatchNorm(h, bw, bb, rm, rv, true, 0.1, 1e-5, true)
			}
			s.T(y)
			y.MustRelu_()
			cur = y
		}
		return cur, ws, nil
	}
	x := s.T(s.T(xAll.MustNarrow(0, off, mine, false)).MustDetach(false))
	y, ws, err := run(x, true)
	if err != nil {
		return err
	}
	gx := s.T(gAll.MustNarrow(0, off, mine, false))
	if err := s.T(s.T(y.MustMul(gx, false)).MustSum(gotch.Float, false)).Backward(); err != nil {
		return err
	}
	yr, wsr, _ := run(xAll, false)
	if err := s.T(s.T(yr.MustMul(gAll, false)).MustSum(gotch.Float, false)).Backward(); err != nil {
		return err
	}
	for i := range ws {
		gw := s.T(ws[i].MustGrad(false))
		if err := g.AllReduce(Sum, gw); err != nil {
			return err
		}
		want := s.T(wsr[i].MustGrad(false))
		diff := s.T(s.T(s.T(gw.MustSub(want, false)).MustAbs(false)).MustMax(false)).Float64Values()[0]
		m := s.T(s.T(want.MustAbs(false)).MustMax(false)).Float64Values()[0]
		fmt.Printf("rank %d conv %d: weight gradient differs by %.3g of %.3g\n", g.Rank(), i, diff/m, m)
		if diff > 1e-5*m {
			return fmt.Errorf("conv %d: weight gradient differs by %.3g (magnitude %.3g)", i, diff, m)
		}
	}
	return nil
}

func TestSyncBatchNormChain(t *testing.T) {
	for _, r := range spawn(t, "syncbn-chain", 2, 30*time.Second, 60*time.Second) {
		t.Logf("rank %d: %s", r.rank, r.stdout)
		if r.code != 0 {
			t.Errorf("rank %d exited with %d:\n%s%s", r.rank, r.code, r.stdout, r.stderr)
		}
	}
}
