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
// // The calling thread's OpenMP team size alone (libgomp keeps it per thread): libtorch
// // first gives the thread its process-wide count (at_get_num_threads runs its lazy
// // per-thread set-up), then OpenMP's own call lowers this thread's. Nothing without OpenMP.
// static void omp_set_local_threads(int n) {
//   void (*f)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
//   if (!f) return;
//   at_get_num_threads();
//   f(n);
// }
// // OpenMP 5.0's omp_pause_resource_all(omp_pause_soft): libgomp ends the calling
// // thread's team (its worker threads exit; the next parallel region starts new ones).
// // -1 without OpenMP 5.0.
// static int omp_pause_all(void) {
//   int (*f)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "omp_pause_resource_all");
//   return f ? f(1) : -1;
// }
import "C"

import (
	"os"
	"runtime"
	"strconv"
)

// SetThreads sets libtorch's intra-op thread count. n <= 0 means one thread per CPU core
// (runtime.NumCPU()). Debian's libtorch starts with a single thread, so call this once at
// start-up. It also exports OMP_NUM_THREADS for pools that are created later, unless the
// user has set it. It returns the count in effect.
//
// OpenBLAS gets one thread (OPENBLAS_NUM_THREADS=1, exported and set through OpenBLAS's
// own call, since OpenBLAS sizes its pool from that variable when the library loads,
// before any Go code runs), unless the user had set OPENBLAS_NUM_THREADS when the program
// started. libtorch's own OpenMP threads do the parallel work; OpenBLAS's pool only adds
// worker threads that spin in sched_yield for a long while after every BLAS call, on the
// cores the OpenMP team and the Go code beside it need. Measured with mb2-ssd-lite at 2
// threads on 2 cores: runner predict's forward pass took 25-33 ms per image with one
// OpenBLAS thread against 34-48 ms with two (four alternating runs of 200 images; the
// second pool's worker spent about a third of the process's CPU time in sched_yield), and
// the training step did not change (refbench, within its round-to-round spread); with
// more BLAS threads than libtorch threads, the system time and involuntary context
// switches grew 5-8 times.
//
// libtorch's OpenMP keeps the count per OS thread: a thread takes the current setting at
// its first parallel op and keeps it, so an OS thread (Go runs goroutines on several) that
// ran tensor ops before SetThreads stays at the old count. Call it before any tensor work.
func SetThreads(n int) int {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	if os.Getenv("OMP_NUM_THREADS") == "" {
		_ = os.Setenv("OMP_NUM_THREADS", strconv.Itoa(n))
	}
	if blasEnvAtStart == "" {
		_ = os.Setenv("OPENBLAS_NUM_THREADS", "1")
		setBLASThreads(1)
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

// SetLocalThreads sets the intra-op thread count of the calling OS thread only, leaving
// the process-wide count of SetThreads to every other thread: for a goroutine, locked to
// its OS thread, that runs small tensor work beside the thread that runs the big work
// (the post-processing of a batch beside the next batch's forward pass, the loader's
// matching beside the training step). It returns the calling thread's count in effect
// (unchanged when libtorch has no OpenMP).
//
// Such helpers must not start OpenMP teams of their own: each OS thread that runs a
// parallel op with a count above 1 gets a team, which stays (idle) as long as the thread
// lives, and one more team in the process slowed the main one's work: a detector whose
// forward pass ran on a second thread, after an earlier detector's thread had gone back
// to Go's pool with its team, took 1.7 times as long per image (mb2-ssd-lite, 2 threads
// on 2 cores: 66-88 ms against 37-53), its team's second thread doing much less of the
// work; the training step's team slowed the same way beside loader threads with teams
// (runner apply: 15.2-18.0 images/s against 19.9-20.9 with one-thread helpers). libgomp
// spins less between parallel regions when it manages more threads than there are cores,
// which fits, though GOMP_SPINCOUNT did not change it. So helpers start with
// LockHelperThread, and a goroutine whose thread has a team ends locked (its thread, and
// the team, end with it) rather than handing the thread back to Go.
func SetLocalThreads(n int) int {
	C.omp_set_local_threads(C.int(max(1, n)))
	return Threads()
}

// LockHelperThread locks the calling goroutine, which runs small tensor work beside the
// main work, to its OS thread for good, with one OpenMP thread (SetLocalThreads): the
// goroutine must not unlock it, so that the thread, with its count, ends with the
// goroutine instead of going back to Go's pool.
func LockHelperThread() {
	runtime.LockOSThread()
	SetLocalThreads(1)
}

// Threads reports libtorch's current intra-op thread count.
func Threads() int { return int(C.at_get_num_threads()) }

// PauseTeam ends the calling OS thread's OpenMP team (OpenMP 5.0's
// omp_pause_resource_all): its worker threads exit instead of spinning, and the thread's
// next parallel op starts a new team. It reports whether the OpenMP runtime did it.
func PauseTeam() bool { return C.omp_pause_all() == 0 }
