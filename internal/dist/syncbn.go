package dist

// #include <stdlib.h>
// #include "dist.h"
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// SyncBatchNorm is BatchNorm in training mode over the batches of every rank (torch's
// SyncBatchNorm): x ([N, C, ...]) is normalised with the mean and biased variance of all
// the ranks' inputs together, runningMean and runningVar ([C]) move by momentum towards
// the global mean and unbiased variance, and the returned tensor's backward reduces the
// per-channel sums of dy and dy·(x − mean) over the ranks, so that the input gradient is
// the one of plain BatchNorm on the concatenated batch. weight and bias ([C]) may be nil;
// their gradients are this rank's share, to be summed over the ranks like every other
// gradient.
//
// Both directions are collectives: every rank must call SyncBatchNorm for the same layers
// in the same order (a rank with an empty batch passes a tensor with N = 0), and must run
// the backward pass through the result when the others do. The collectives use the
// group's timeout; their failure is returned by this call (forward) or by Backward.
func (g *Group) SyncBatchNorm(x, weight, bias, runningMean, runningVar *ts.Tensor, momentum, eps float64) (*ts.Tensor, error) {
	var out unsafe.Pointer
	var cerr *C.char
	if C.ssd_dist_sync_batch_norm(g.pg, x.Ctensor(), optional(weight), optional(bias), runningMean.Ctensor(),
		runningVar.Ctensor(), C.double(momentum), C.double(eps), &out, &cerr) != 0 {
		err := takeErr(cerr)
		return nil, fmt.Errorf("dist: rank %d of %d: sync batch norm: %w", g.cfg.Rank, g.cfg.World, err)
	}
	return ts.FromCtensor(out), nil
}

func optional(t *ts.Tensor) unsafe.Pointer {
	if t == nil {
		return nil
	}
	return t.Ctensor()
}
