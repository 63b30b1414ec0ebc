package torch

import (
	"runtime"
	"testing"
)

// TestSmokeTrainTinyNet trains the conv-bn-relu-conv-pool-linear net on one fixed batch
// with the hand-written SGD (forward, cross-entropy, backward, update under NoGrad). It
// checks that gradients flow (the loss falls below 60% of its start within 30 steps) and
// that the steps after the first ten give back what they take from the C heap.
//
// Building the net itself leaks its parameters' storage (about 24 KB here): gotch's
// uniform and Kaiming initialisers call Uniform_ on the fresh tensor, which orphans a
// handle that keeps a reference (see InPlace). That is once per model, not per step, so it
// is left out of the check.
func TestSmokeTrainTinyNet(t *testing.T) {
	const smokeWarmup = 10
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ManualSeed(1)
	net := newTinyNet(4)
	opt := newSGD(net.params(), 0.1, 0.9, 5e-4)
	b := newBatch(8, 32, 4)
	defer func() { b.close(); opt.close(); net.close() }()

	var losses []float64
	var heap0 int64
	for i := 0; i < 30; i++ {
		if i == smokeWarmup { // libtorch's and malloc's caches are warm by now
			heap0 = MallocInUse()
		}
		l, err := trainStep(net, opt, b)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if l != l || l <= 0 {
			t.Fatalf("step %d: loss %v", i, l)
		}
		losses = append(losses, l)
	}
	grew := MallocInUse() - heap0
	first, last := losses[0], losses[len(losses)-1]
	t.Logf("loss %.4f → %.4f; C heap %+d bytes over steps %d-29", first, last, grew, smokeWarmup)
	if last > 0.6*first {
		t.Errorf("loss went from %.4f to %.4f in 30 steps, want below 60%% of the start", first, last)
	}
	// One leaked intermediate of this net is at least 8 KB per step (the [8,32,8,8] conv
	// output), 160 KB over 20 steps; the slack covers malloc's per-thread caches (measured:
	// 6-10 KB).
	if grew > heapSlack {
		t.Errorf("the C heap grew by %d bytes over training steps %d-29, want <= %d", grew, smokeWarmup, heapSlack)
	}
}
