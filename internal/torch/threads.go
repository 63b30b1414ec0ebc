package torch

// #cgo LDFLAGS: -lc10 -ltorch_cpu -ldl
// #include <dlfcn.h>
// void at_set_num_threads(int n_threads);
// int at_get_num_threads();
// // OpenBLAS's own thread-count calls, when the BLAS libtorch loaded is OpenBLAS (Debian's
// // libblas.so.3 alternative may be another BLAS): -1 when it is not.
// static int blas_set_threads(int n) {
//   void (*f)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
//   if (!f) return -1;
//   f(n);
//   return n;
// }
// static int blas_get_threads(void) {
//   int (*f)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
//   return f ? f() : -1;
// }
import "C"

import (
	"os"
	"runtime"
	"strconv"
)

// SetThreads sets libtorch's intra-op thread count. n <= 0 means one thread per CPU core
// (runtime.NumCPU()). Debian's libtorch starts with a single thread, so call this once at
// start-up. It also exports OMP_NUM_THREADS and OPENBLAS_NUM_THREADS for pools that are
// created later, unless the user has set them, and, unless the user had set
// OPENBLAS_NUM_THREADS when the program started, sets OpenBLAS's count through its own
// call: OpenBLAS sizes its pool from that variable when the library loads, before any Go
// code runs, so a process asked for 1 thread on 2 cores otherwise ran 2 BLAS threads
// (refbench measured 5-8 times the system time and involuntary context switches). It
// returns the count in effect.
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
	if blasEnvAtStart == "" {
		setBLASThreads(n)
	}
	C.at_set_num_threads(C.int(n))
	return Threads()
}

// blasEnvAtStart is OPENBLAS_NUM_THREADS as the process found it: the user's choice,
// which SetThreads leaves to OpenBLAS.
var blasEnvAtStart = os.Getenv("OPENBLAS_NUM_THREADS")

// setBLASThreads sets OpenBLAS's thread count (nothing when the BLAS is another).
func setBLASThreads(n int) { C.blas_set_threads(C.int(n)) }

// BLASThreads reports OpenBLAS's thread count, or -1 when the BLAS in use is not OpenBLAS.
func BLASThreads() int { return int(C.blas_get_threads()) }

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
