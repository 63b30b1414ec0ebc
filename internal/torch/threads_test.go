package torch

import (
	"os"
	"runtime"
	"strconv"
	"testing"
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
	for _, k := range threadEnv {
		if got := os.Getenv(k); got != strconv.Itoa(want) {
			t.Errorf("%s = %q, want %q", k, got, strconv.Itoa(want))
		}
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
	for _, k := range threadEnv {
		if got := os.Getenv(k); got != "1" {
			t.Errorf("%s = %q, want \"1\"", k, got)
		}
	}
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
	if got := os.Getenv("OPENBLAS_NUM_THREADS"); got != "1" {
		t.Errorf("OPENBLAS_NUM_THREADS = %q, want \"1\"", got)
	}
}

// TestSetThreadsBLAS: OpenBLAS sized its pool when it loaded; SetThreads sets its count
// through OpenBLAS's own call, since the variable it exports comes too late.
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
	for _, n := range []int{1, 2} {
		SetThreads(n)
		if got := BLASThreads(); got != n {
			t.Errorf("after SetThreads(%d), OpenBLAS runs %d threads", n, got)
		}
	}
}
