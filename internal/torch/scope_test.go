package torch

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

const (
	mib = 1 << 20
	// heapSlack is how far the C heap may move for reasons other than the tensors a test
	// creates (libtorch's small internal allocations): far below the 1 MiB tensors used.
	heapSlack = 64 << 10
)

// mibTensor returns a new float tensor of exactly 1 MiB of data, filled with v.
func mibTensor(v float64) *ts.Tensor {
	sc := ts.FloatScalar(v)
	defer sc.MustDrop()
	return ts.MustFull([]int64{mib / 4}, sc, gotch.Float, gotch.CPU)
}

// heapDelta runs f on a locked OS thread and returns how much MallocInUse grew.
func heapDelta(t *testing.T, f func()) int64 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := MallocInUse()
	f()
	return MallocInUse() - before
}

func TestScopeCloseFreesEverything(t *testing.T) {
	mibTensor(0).MustDrop() // warm-up: first-call allocations inside libtorch
	var during int64
	d := heapDelta(t, func() {
		s := NewScope()
		a := s.T(mibTensor(1))
		b := s.T(a.MustMulScalar(s.Float(2), false))
		s.Ts(b.MustAdd(a, false), b.MustSub(a, false))
		if got := s.Len(); got != 4 {
			t.Errorf("Len = %d, want 4", got)
		}
		during = MallocInUse()
		s.Close()
		if got := s.Len(); got != 0 {
			t.Errorf("Len after Close = %d, want 0", got)
		}
		during -= MallocInUse()
	})
	if during < 4*mib {
		t.Errorf("Close released %d bytes, want at least the 4 MiB of the scope's tensors", during)
	}
	if d > heapSlack || d < -heapSlack {
		t.Errorf("C heap changed by %d bytes over create+Close, want |change| <= %d", d, heapSlack)
	}
}

// A tensor too large for malloc's arenas (over glibc's 32 MiB mmap threshold) goes back
// to the kernel when freed, so freeing shows in the resident set size itself, under both
// malloc policies; under "hugepages" it also faults in 2 MiB at a time. The test runs
// this binary again for the policy this process does not have.
func TestScopeCloseReturnsRSS(t *testing.T) {
	if os.Getenv("SSD_RERUN") == "" {
		other := "RUNNER_MALLOC=system"
		if MallocPolicy() == "system" {
			other = "RUNNER_MALLOC=hugepages"
		}
		rerunWithEnv(t, "^TestScopeCloseReturnsRSS$", other, "SSD_RERUN=1")
	}
	const n = 64 * mib
	f0 := minorFaults(t)
	r0 := mustRSS(t)
	s := NewScope()
	s.T(ts.MustOnes([]int64{n / 4}, gotch.Float, gotch.CPU)) // ones: the pages are touched
	r1 := mustRSS(t)
	faults := minorFaults(t) - f0
	s.Close()
	r2 := mustRSS(t)
	t.Logf("malloc %s: RSS %d → %d → %d MiB, %d minor faults", MallocPolicy(), r0/mib, r1/mib, r2/mib, faults)
	if r1-r0 < n*9/10 {
		t.Fatalf("RSS grew by %d bytes for a %d-byte tensor", r1-r0, n)
	}
	if r1-r2 < n*9/10 {
		t.Errorf("RSS fell by %d bytes after Close, want about %d", r1-r2, n)
	}
	// With huge pages the 64 MiB fault in 2 MiB at a time (32 faults, against 16384 of
	// 4 KiB); allow for the kernel falling back to small pages for part of it.
	if MallocPolicy() == "hugepages" && faults > n/4096/4 {
		t.Errorf("malloc hugepages: %d minor faults to fill %d bytes, want at most %d (4 KiB pages would take %d)", faults, n, n/4096/4, n/4096)
	}
}

// minorFaults is the process's count of minor page faults so far.
func minorFaults(t *testing.T) int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

func TestScopeKeep(t *testing.T) {
	mibTensor(0).MustDrop()
	var kept *ts.Tensor
	d := heapDelta(t, func() {
		s := NewScope()
		a := s.T(mibTensor(3))
		kept = s.Keep(s.T(a.MustMulScalar(s.Float(2), false)))
		if got := s.Len(); got != 1 {
			t.Errorf("Len after Keep = %d, want 1", got)
		}
		s.Close()
	})
	if d < mib || d > mib+heapSlack {
		t.Fatalf("after Close the C heap holds %d more bytes, want the kept 1 MiB tensor", d)
	}
	if v := kept.MustFloat64Value([]int64{7}); v != 6 {
		t.Errorf("kept tensor [7] = %v, want 6", v)
	}
	kept.MustDrop()
}

func TestScopeKeepUnregistered(t *testing.T) {
	s := NewScope()
	defer s.Close()
	s.T(mibTensor(0))
	x := mibTensor(1)
	defer x.MustDrop()
	if got := s.Keep(x); got != x {
		t.Errorf("Keep returned %p, want its argument %p", got, x)
	}
	if got := s.Len(); got != 1 {
		t.Errorf("Len = %d, want 1 (Keep of an unregistered tensor changes nothing)", got)
	}
	if s.T(nil) != nil || s.Len() != 1 {
		t.Errorf("T(nil) must return nil and register nothing")
	}
}

// A tensor registered twice is freed once: a second free would abort the process in
// glibc or corrupt the heap.
func TestScopeDoubleRegistration(t *testing.T) {
	mibTensor(0).MustDrop()
	d := heapDelta(t, func() {
		s := NewScope()
		a := s.T(mibTensor(1))
		s.T(a)
		s.Ts(a, s.T(mibTensor(2)))
		s.Close()
	})
	if d > heapSlack || d < -heapSlack {
		t.Errorf("C heap changed by %d bytes, want |change| <= %d", d, heapSlack)
	}
}

// Keep hands the tensor to the caller even when it was registered more than once.
func TestScopeKeepDoubleRegistered(t *testing.T) {
	mibTensor(0).MustDrop()
	var kept *ts.Tensor
	d := heapDelta(t, func() {
		s := NewScope()
		a := s.T(mibTensor(5))
		s.T(a)
		kept = s.Keep(a)
		s.Close()
	})
	if d < mib || d > mib+heapSlack {
		t.Fatalf("after Close the C heap holds %d more bytes, want the kept 1 MiB tensor", d)
	}
	if v := kept.MustFloat64Value([]int64{0}); v != 5 {
		t.Errorf("kept tensor [0] = %v, want 5", v)
	}
	kept.MustDrop()
}

func TestScopeScalars(t *testing.T) {
	const n = 10000
	s := NewScope()
	var during int64
	d := heapDelta(t, func() {
		for i := 0; i < n; i++ {
			s.Float(float64(i))
			s.Int(int64(i))
		}
		during = MallocInUse()
		s.Close()
		during -= MallocInUse()
	})
	if during < 2*n*16 {
		t.Errorf("Close released %d bytes for %d scalars", during, 2*n)
	}
	if d > heapSlack || d < -heapSlack {
		t.Errorf("C heap changed by %d bytes, want |change| <= %d", d, heapSlack)
	}
}

func TestScopeCloseTwice(t *testing.T) {
	mibTensor(0).MustDrop()
	d := heapDelta(t, func() {
		s := NewScope()
		s.T(mibTensor(1))
		s.Close()
		s.Close()
		// The scope stays usable after Close.
		s.T(mibTensor(2))
		if got := s.Len(); got != 1 {
			t.Errorf("Len = %d, want 1", got)
		}
		s.Close()
	})
	if d > heapSlack || d < -heapSlack {
		t.Errorf("C heap changed by %d bytes, want |change| <= %d", d, heapSlack)
	}
}

// Goroutines register, keep and count concurrently; run with -race to check the locking.
func TestScopeConcurrent(t *testing.T) {
	const workers, each = 8, 50
	s := NewScope()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		kept []*ts.Tensor
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				x := s.T(ts.MustFull([]int64{16}, s.Float(float64(w)), gotch.Float, gotch.CPU))
				if i%10 == 0 {
					mu.Lock()
					kept = append(kept, s.Keep(x))
					mu.Unlock()
				}
				_ = s.Len()
			}
		}(w)
	}
	wg.Wait()
	if want := workers * (each - each/10); s.Len() != want {
		t.Errorf("Len = %d, want %d", s.Len(), want)
	}
	s.Close()
	if s.Len() != 0 {
		t.Errorf("Len after Close = %d", s.Len())
	}
	for _, k := range kept {
		if n := k.MustSize()[0]; n != 16 {
			t.Errorf("kept tensor has size %d, want 16", n)
		}
		k.MustDrop()
	}
}

func mustRSS(t testing.TB) int64 {
	t.Helper()
	r, err := RSS()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
