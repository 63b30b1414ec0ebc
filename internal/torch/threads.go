package torch

// #cgo LDFLAGS: -lc10 -ltorch_cpu
// void at_set_num_threads(int n_threads);
// int at_get_num_threads();
import "C"

import (
	"os"
	"runtime"
	"strconv"
)

// SetThreads sets libtorch's intra-op thread count. n <= 0 means one thread per CPU core
// (runtime.NumCPU()). Debian's libtorch starts with a single thread, so call this once at
// start-up. It also exports OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for pools that are
// created later (OpenBLAS reads its variable when its first thread pool starts), unless
// the user has set them. It returns the count in effect.
//
// libtorch's OpenMP keeps the count per OS thread: a thread takes the current setting at
// its first parallel op and keeps it, so an OS thread (Go runs goroutines on several) that
// ran tensor ops before SetThreads stays at the old count. Call it before any tensor work.
func SetThreads(n int) int {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	for _, k := range []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, strconv.Itoa(n))
		}
	}
	C.at_set_num_threads(C.int(n))
	return Threads()
}

// init keeps the main goroutine on the main OS thread for the life of the program
// (runtime.LockOSThread in an init function locks the goroutine that later runs main).
//
// libtorch keeps state per OS thread, and Go moves a goroutine between OS threads at any
// cgo call: grad mode, the intra-op thread count SetThreads sets, and above all OpenMP's
// team of worker threads, which belongs to the thread that opens a parallel region. A
// goroutine that wanders starts parallel regions from several OS threads, each with a
// team of its own, and the team it left keeps spinning on the cores the new one needs.
// Measured on the mb2-ssd-lite training step at batch 16 and 2 threads (internal/refbench,
// 2 cores): 2.4-2.6 s locked against 2.7-3.0 s free, and 10 % fewer page faults. Run
// tensor work on the main goroutine, or call runtime.LockOSThread in the goroutine that
// does it.
func init() {
	runtime.LockOSThread()
}

// Threads reports libtorch's current intra-op thread count.
func Threads() int { return int(C.at_get_num_threads()) }
