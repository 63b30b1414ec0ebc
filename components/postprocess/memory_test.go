package postprocess

import (
	"math/rand/v2"
	"runtime"
	"testing"

	box "github.com/ssdrunner/ssdrunner/components/boxes"
	"github.com/ssdrunner/ssdrunner/internal/torch"
)

// TestMemoryFlat checks that Detect, NMS and SoftNMS free everything they create: over
// many calls, on every code path (per-class and class-agnostic, hard and soft, blocked
// and row-by-row, and an input error), the C heap must not grow.
//
// The test keeps to one OS thread: glibc gives each thread its own cache of freed
// chunks, which counts as memory in use, so calls moving between threads show a few
// hundred KB of growth before every thread's cache is full. What remains is bounded
// allocator noise, up to about 25 KB in all (measured over 300 and 900 rounds: it does
// not grow with the rounds), hence the bound; a single leaked tensor per round (its
// TensorImpl, storage and data) would exceed it.
const maxMallocPerRound = 128

func TestMemoryFlat(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conf, loc, priors := goldenInputs(t)
	bv, sv := randomBoxes(rand.New(rand.NewPCG(11, 12)), 400, 10)
	b, sc := tensor(t, bv, 400, 4), tensor(t, sv, 400)
	bad := tensor(t, sv[:10], 10)
	configs := []Config{
		{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200},
		{Method: Soft, ScoreThreshold: 0.01, Sigma: 0.5, TopK: 5},
		{Method: Hard, IoUThreshold: 0.45, ScoreThreshold: 0.01, CandidateSize: 200, ClassAgnostic: true},
		{Method: Soft, ScoreThreshold: 0.05, Sigma: 0.5, CandidateSize: 50, TopK: 20, ClassAgnostic: true},
	}
	defer func(h, m, s int) { hardBlock, matrixElems, softDense = h, m, s }(hardBlock, matrixElems, softDense)
	g, err := torch.MeasureGrowth(50, 250, func(i int) error {
		// Every other round, small blocks: blocked hard NMS and row-by-row decays.
		if i%2 == 0 {
			hardBlock, matrixElems, softDense = 1024, 1<<16, 2048
		} else {
			hardBlock, matrixElems, softDense = 64, 4096, 16
		}
		if _, err := Detect(conf, loc, priors, box.DefaultVariances, configs[i%len(configs)]); err != nil {
			return err
		}
		keep, err := NMS(b, sc, 0.5, 0, 200)
		if err != nil {
			return err
		}
		keep.MustDrop()
		keep, newScores, err := SoftNMS(b, sc, 0.5, 0.2, 20)
		if err != nil {
			return err
		}
		keep.MustDrop()
		newScores.MustDrop()
		if _, err := NMS(b, bad, 0.5, 0, 200); err == nil {
			t.Error("NMS accepted 10 scores for 400 boxes")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per round: C heap %+.1f bytes, RSS %+.0f bytes", g.MallocPerStep(), g.RSSPerStep())
	if g.MallocPerStep() > maxMallocPerRound {
		t.Errorf("the C heap grew by %.1f bytes per round, want <= %d", g.MallocPerStep(), maxMallocPerRound)
	}
}
