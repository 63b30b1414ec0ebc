package torch

import (
	"runtime"
	"sync"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestErrorsOnUnlockedGoroutines: libtorch errors are reported to the goroutine whose op
// failed, and only to it, even on goroutines that do not lock their OS thread. gotch reads
// its per-thread error state in a second cgo call; make setup's lockthread patch keeps each
// such function on one thread. Without it, goroutines that the scheduler moves between the
// two calls lose errors or receive another goroutine's (seen as a crash in CI), so this
// test can fail, or crash, on some of its 3,200 ops (400 failing).
func TestErrorsOnUnlockedGoroutines(t *testing.T) {
	// A failing op costs milliseconds (libtorch captures a C++ backtrace for the error), so
	// one op in eight fails.
	const workers, rounds = 8, 400
	a := ts.MustOnes([]int64{3}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	b := ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU)
	defer b.MustDrop()
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				bad := (i+w)%8 == 0
				other := a
				if bad {
					other = b // shapes [3] and [2] do not broadcast
				}
				out, err := a.Add(other, false)
				switch {
				case bad && err == nil:
					out.MustDrop()
					errs <- "a failing op returned no error"
					return
				case !bad && err != nil:
					errs <- "a valid op returned an error: " + err.Error()
					return
				case err == nil:
					out.MustDrop()
				}
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
