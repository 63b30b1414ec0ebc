package torch

// #include <malloc.h>
// #include <stdlib.h>
//
// // ssd_one_arena runs when the program is loaded, before the Go runtime starts its
// // threads (a Go init function would run too late: by then several threads have malloc
// // arenas of their own, which they keep).
// __attribute__((constructor)) static void ssd_one_arena(void) {
// 	if (getenv("MALLOC_ARENA_MAX") == NULL) {
// 		mallopt(M_ARENA_MAX, 1);
// 	}
// }
import "C"

// A constructor in the C preamble above keeps glibc malloc at one arena (unless
// MALLOC_ARENA_MAX says otherwise) in every program that links this package.
//
// glibc gives every OS thread that calls malloc while the main arena is busy an arena of
// its own, and Go runs cgo calls on whichever OS thread the goroutine is on, so libtorch's
// tensors end up spread over several arenas (a tensor is freed into the arena it came
// from, not the caller's). Freed activation memory then sits in arenas that the next
// step's allocations do not reuse, or is trimmed and faulted back in: measured on the
// mb2-ssd-lite training step at batch 16, 1.5 million more minor page faults per run
// than with one arena (4.5 M against 3.0 M for five steps, the count of the PyTorch
// reference, which allocates from its main thread) and 15-20 % more time at one
// thread, most of it in the kernel. libtorch's allocations are few and large, so one
// arena's lock costs nothing measurable; Go's own heap is not malloc's and is unaffected.
