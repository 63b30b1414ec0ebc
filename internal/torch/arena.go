package torch

// #include <malloc.h>
// #include <stdio.h>
// #include <stdlib.h>
// #include <string.h>
//
// void ssd_install_hugepage_allocator(size_t min_advise);  // allocator.cc
//
// static int ssd_malloc_mode;  // 0 system, 1 hugepages (see MallocPolicy)
// static int ssd_malloc_env;   // the environment tunes malloc (see MallocTunedByEnvironment)
//
// static int ssd_user_tuned(void) {
// 	return getenv("MALLOC_MMAP_MAX_") != NULL || getenv("MALLOC_MMAP_THRESHOLD_") != NULL ||
// 		getenv("MALLOC_TRIM_THRESHOLD_") != NULL || getenv("MALLOC_TOP_PAD_") != NULL ||
// 		getenv("GLIBC_TUNABLES") != NULL;
// }
//
// // ssd_thp_never reports whether transparent huge pages are switched off.
// static int ssd_thp_never(void) {
// 	char buf[128] = {0};
// 	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
// 	if (f == NULL) {
// 		return 1;
// 	}
// 	size_t n = fread(buf, 1, sizeof buf - 1, f);
// 	fclose(f);
// 	buf[n] = 0;
// 	return strstr(buf, "[never]") != NULL;
// }
//
// // ssd_malloc_setup runs when the program is loaded, before the Go runtime starts its
// // threads (a Go init function would run too late: by then several threads have malloc
// // arenas of their own, which they keep).
// __attribute__((constructor)) static void ssd_malloc_setup(void) {
// 	ssd_malloc_env = ssd_user_tuned();
// 	if (getenv("MALLOC_ARENA_MAX") == NULL && !ssd_malloc_env) {
// 		mallopt(M_ARENA_MAX, 1);
// 	}
// 	const char *mode = getenv("RUNNER_MALLOC");
// 	if ((mode == NULL || *mode == 0 || strcmp(mode, "hugepages") == 0) && !ssd_malloc_env && !ssd_thp_never()) {
// 		ssd_install_hugepage_allocator((size_t)2 << 20);
// 		// Keep freed blocks under 32 MiB in the heap (a fixed mmap threshold, no trimming):
// 		// see MallocPolicy.
// 		mallopt(M_MMAP_THRESHOLD, 32 << 20);
// 		mallopt(M_TRIM_THRESHOLD, 2147483647);
// 		ssd_malloc_mode = 1;
// 	}
// }
//
// static int ssd_malloc_mode_get(void) { return ssd_malloc_mode; }
// static int ssd_malloc_env_get(void) { return ssd_malloc_env; }
import "C"

// The C preamble above sets malloc up, in every program that links this package, before
// any other code runs.
//
// One arena (unless MALLOC_ARENA_MAX says otherwise, or the environment tunes malloc
// itself: see MallocTunedByEnvironment). glibc gives every OS thread that
// calls malloc while the main arena is busy an arena of its own, and Go runs cgo calls on
// whichever OS thread the goroutine is on, so libtorch's tensors end up spread over
// several arenas (a tensor is freed into the arena it came from, not the caller's). Freed
// activation memory then sits in arenas that the next step's allocations do not reuse,
// or is trimmed and faulted back in: measured on the mb2-ssd-lite training step at batch
// 16, 1.5 million more minor page faults per run than with one arena (4.5 M against 3.0 M
// for five steps, the count of the PyTorch reference, which allocates from its main
// thread) and 15-20 % more time at one thread, most of it in the kernel. libtorch's
// allocations are few and large, so one arena's lock costs nothing measurable; Go's own
// heap is not malloc's and is unaffected.
//
// Huge pages for large blocks: see MallocPolicy.

// MallocPolicy says how libtorch's CPU memory is allocated in this process, as
// RUNNER_MALLOC chooses:
//
//   - "hugepages" (the default): libtorch's CPU allocator is replaced (allocator.cc) by one
//     that allocates the same way (posix_memalign, 64-byte alignment, free) and asks for
//     transparent huge pages (madvise MADV_HUGEPAGE) on every block of 2 MiB or more,
//     before its pages are first touched. A training step frees and re-allocates its
//     activations every step, and glibc maps the large ones afresh each time (or trims
//     and regrows its heap), so their pages fault in again one by one: for four
//     mb2-ssd-lite steps at batch 16, 3.3 M minor faults with 4 KiB pages, 0.26 M with
//     this allocator, and the step 17 % faster at one thread (5-25 % across runs and
//     models, measured on a shared 2-core machine); peak RSS is the same or lower.
//     Besides, malloc keeps what it frees: blocks under 32 MiB always come from its
//     heap (a fixed mmap threshold instead of glibc's sliding one, which starts at 128 KiB)
//     and the heap is never trimmed, so after the first steps a training step reuses pages
//     that are already mapped instead of faulting fresh zeroed ones in (the kernel's
//     clear_page was 4 % of a quickstart step's profile): the quickstart trains 10 % faster
//     (77-78 against 85-86 images/s, alternating one-epoch runs on 1,536 images, 2-core
//     VM) at the same peak RSS (0.72-0.75 GB against 0.73 GB). Blocks of 32 MiB or more
//     still have mappings of their own that go back on free; the heap's size stays at its
//     peak. Nothing changes where transparent huge pages are off ("[never]"), or where
//     the environment tunes malloc itself (MALLOC_MMAP_MAX_, MALLOC_MMAP_THRESHOLD_,
//     MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_ or GLIBC_TUNABLES set): the policy is then
//     "system".
//   - "system": libtorch's own allocator with glibc's defaults.
//
// Other RUNNER_MALLOC values leave libtorch's allocator; runner's command line rejects
// them.
func MallocPolicy() string {
	if C.ssd_malloc_mode_get() == 1 {
		return "hugepages"
	}
	return "system"
}

// MallocTunedByEnvironment reports whether the environment tuned glibc malloc when the
// program started (GLIBC_TUNABLES, MALLOC_MMAP_MAX_, MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_ or MALLOC_TOP_PAD_ set). This package then changes nothing in
// malloc: no one-arena setting, no huge-page allocator (MallocPolicy is "system") and no
// huge-page advice on the tensors it fills, so the process runs exactly the policy the
// environment gives (what refbench -same-malloc relies on to give both sides one policy).
func MallocTunedByEnvironment() bool { return C.ssd_malloc_env_get() == 1 }
