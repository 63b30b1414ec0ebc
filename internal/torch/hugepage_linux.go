package torch

// #include <stddef.h>
// void ssd_advise_huge(void *p, size_t n);  // allocator.cc
import "C"

import "unsafe"

// hugeAdviseMin is the smallest tensor FromSlices advises: below it the allocator usually
// hands out reused heap memory, already mapped.
const hugeAdviseMin = 8 << 20

// adviseHugePages asks the kernel to back the 2 MB-aligned part of the n bytes at p with
// transparent huge pages, before they are first written. libtorch gets a batch-sized
// tensor (a 32x3x300x300 float batch is 34.6 MB, above glibc's largest mmap threshold)
// from fresh anonymous memory every time, and filling it costs a page fault per 4 KB:
// measured here, 17 ms for a 34.6 MB batch against 6 ms with huge pages (a copy into
// memory already mapped takes 4 ms). The advice is best effort: with transparent huge
// pages disabled, or on an error, nothing changes. Under the default malloc policy,
// "hugepages", the allocator has already advised the block (MallocPolicy); this covers
// the other one, unless the environment tunes malloc itself (MallocTunedByEnvironment).
func adviseHugePages(p unsafe.Pointer, n uintptr) {
	if n < hugeAdviseMin || MallocPolicy() == "hugepages" || MallocTunedByEnvironment() {
		return
	}
	C.ssd_advise_huge(p, C.size_t(n))
}
