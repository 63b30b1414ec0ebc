package torch

// #include <malloc.h>
import "C"

import "runtime/debug"

// MallocInUse reports the bytes that the C heap (glibc malloc) has handed out and not taken
// back: chunks in use in every arena plus blocks served by mmap. libtorch allocates CPU
// tensors and its tensor handles there, so this counts their memory to the byte, unlike
// RSS, which moves by pages and keeps memory that malloc has freed but not returned. Go's
// own heap is not included. It takes each arena's lock briefly: call it between steps,
// not in a hot loop.
func MallocInUse() int64 {
	mi := C.mallinfo2()
	return int64(mi.uordblks) + int64(mi.hblkhd)
}

// releaseFreeMemory hands the memory that the Go heap and glibc malloc hold free back to
// the kernel (debug.FreeOSMemory and malloc_trim), so that RSS then counts memory in use
// plus fragmentation, not allocator caches whose size depends on what ran before.
func releaseFreeMemory() {
	debug.FreeOSMemory()
	C.malloc_trim(0)
}
