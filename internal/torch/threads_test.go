package torch

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

var threadEnv = []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}

// lockThreads pins the test to one OS thread (libtorch's OpenMP thread count is kept per
// thread) and restores the count the test found.
func lockThreads(t *testing.T) {
	runtime.LockOSThread()
	prev := Threads()
	t.Cleanup(func() {
		SetThreads(prev) // the env vars are set by now, so only the count changes
		runtime.UnlockOSThread()
	})
}

// unsetEnv removes k for the test and restores its value afterwards.
func unsetEnv(t *testing.T, k string) {
	t.Setenv(k, "") // registers the restore
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

func TestSetThreadsAllCores(t *testing.T) {
	for _, k := range threadEnv {
		unsetEnv(t, k)
	}
	lockThreads(t)
	want := runtime.NumCPU()
	if got := SetThreads(0); got != want {
		t.Errorf("SetThreads(0) = %d, want runtime.NumCPU() = %d", got, want)
	}
	if got := Threads(); got != want {
		t.Errorf("Threads() = %d, want %d", got, want)
	}
	if got := os.Getenv("OMP_NUM_THREADS"); got != strconv.Itoa(want) {
		t.Errorf("OMP_NUM_THREADS = %q, want %q", got, strconv.Itoa(want))
	}
	checkBLASEnv(t)
}

// checkBLASEnv checks that OPENBLAS_NUM_THREADS is 1 (unless the user had set it).
func checkBLASEnv(t *testing.T) {
	t.Helper()
	if blasEnvAtStart != "" {
		return
	}
	if got := os.Getenv("OPENBLAS_NUM_THREADS"); got != "1" {
		t.Errorf("OPENBLAS_NUM_THREADS = %q, want \"1\"", got)
	}
}

func TestSetThreadsOne(t *testing.T) {
	for _, k := range threadEnv {
		unsetEnv(t, k)
	}
	lockThreads(t)
	if got := SetThreads(1); got != 1 {
		t.Errorf("SetThreads(1) = %d, want 1", got)
	}
	if got := Threads(); got != 1 {
		t.Errorf("Threads() = %d, want 1", got)
	}
	if got := os.Getenv("OMP_NUM_THREADS"); got != "1" {
		t.Errorf("OMP_NUM_THREADS = %q, want \"1\"", got)
	}
	checkBLASEnv(t)
}

func TestSetThreadsKeepsUserEnv(t *testing.T) {
	t.Setenv("OMP_NUM_THREADS", "3")
	t.Setenv("OPENBLAS_NUM_THREADS", "")
	lockThreads(t)
	if got := SetThreads(1); got != 1 {
		t.Errorf("SetThreads(1) = %d, want 1", got)
	}
	if got := os.Getenv("OMP_NUM_THREADS"); got != "3" {
		t.Errorf("OMP_NUM_THREADS = %q, want the user's \"3\"", got)
	}
	// An empty value counts as unset.
	checkBLASEnv(t)
}

// TestSetThreadsBLAS: OpenBLAS sized its pool when it loaded; SetThreads gives it one
// thread through OpenBLAS's own call, whatever libtorch's count, since the variable it
// exports comes too late.
func TestSetThreadsBLAS(t *testing.T) {
	if BLASThreads() < 0 {
		t.Skip("the BLAS libtorch loaded is not OpenBLAS")
	}
	if blasEnvAtStart != "" {
		t.Skipf("OPENBLAS_NUM_THREADS=%s was set when the test started: SetThreads leaves OpenBLAS to it", blasEnvAtStart)
	}
	lockThreads(t)
	prev := BLASThreads()
	t.Cleanup(func() { setBLASThreads(prev) })
	for _, n := range []int{2, 1, 3} {
		setBLASThreads(2) // as OpenBLAS sizes its pool on a 2-core machine
		SetThreads(n)
		if got := BLASThreads(); got != 1 {
			t.Errorf("after SetThreads(%d), OpenBLAS runs %d threads, want 1", n, got)
		}
	}
}

// TestSetLocalThreads: the calling OS thread's count changes, another thread's does not.
func TestSetLocalThreads(t *testing.T) {
	lockThreads(t)
	SetThreads(2)
	other := make(chan int)
	go func() {
		runtime.LockOSThread() // ends locked: the thread goes with it
		if got := SetLocalThreads(1); got != 1 {
			t.Errorf("SetLocalThreads(1) = %d, want 1", got)
		}
		other <- Threads()
	}()
	if got := <-other; got != 1 {
		t.Errorf("the other thread runs %d threads after SetLocalThreads(1), want 1", got)
	}
	if got := Threads(); got != 2 {
		t.Errorf("this thread runs %d threads after another's SetLocalThreads(1), want 2", got)
	}
}

// TestPauseTeam: after a parallel op at 2 threads, PauseTeam ends the calling thread's
// OpenMP team (the process has fewer threads), and the next parallel op starts a new one
// and gives the same values.
func TestPauseTeam(t *testing.T) {
	lockThreads(t)
	SetThreads(2)
	s := NewScope()
	defer s.Close()
	x := s.T(ts.MustRandn([]int64{1 << 22}, gotch.Float, gotch.CPU))
	op := func() []float32 { // an element-wise op over 4M values: split across the team
		v := make([]float32, 1<<22)
		if err := CopyTo(s.T(x.MustMul(x, false)), v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := op()
	before := taskCount(t)
	if !PauseTeam() {
		t.Skip("the OpenMP runtime has no omp_pause_resource_all")
	}
	if after := taskCount(t); after >= before {
		t.Errorf("%d threads after PauseTeam, %d before: the team did not end", after, before)
	}
	if got := op(); !slices.Equal(got, want) {
		t.Error("the op after PauseTeam gives other values")
	}
	if after := taskCount(t); after < before {
		t.Errorf("%d threads after the next parallel op, %d before the pause: no new team", after, before)
	}
}

// taskCount is the number of threads of the process.
func taskCount(t *testing.T) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc/self/task:", err)
	}
	return len(tasks)
}
