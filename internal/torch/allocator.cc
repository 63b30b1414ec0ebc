// A CPU allocator for libtorch that asks for transparent huge pages on large blocks: see
// MallocPolicy in arena.go.
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstdint>
#include <cstdlib>
#include <sys/mman.h>

namespace {

constexpr std::uintptr_t kHugePage = std::uintptr_t(2) << 20;
// Blocks from this size on are advised (ssd_install_hugepage_allocator sets it). Blocks
// over glibc's mmap threshold have a mapping of their own, which the advice covers and
// which goes with the block; smaller ones come from malloc's heap, where the advice marks
// part of the heap's mapping (the kernel merges neighbouring marked parts: mb2-ssd-lite
// training at batch 16 peaks at 1,866 mappings instead of 1,690).
std::size_t g_min_advise = std::size_t(2) << 20;
constexpr std::size_t kAlignment = 64;  // c10's gAlignment

void free_block(void* p) { std::free(p); }

// advise_huge asks for transparent huge pages on the 2 MiB-aligned interior of the n bytes
// at p (advice applies to whole pages), best effort: it works for pages not yet touched.
void advise_huge(void* p, std::size_t n) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  auto start = (a + kHugePage - 1) & ~(kHugePage - 1);
  auto end = (a + n) & ~(kHugePage - 1);
  if (end > start) {
    madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
  }
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    if (n == 0) {
      return {nullptr, nullptr, &free_block, c10::Device(c10::DeviceType::CPU)};
    }
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, n) != 0 || p == nullptr) {
      TORCH_CHECK(false, "DefaultCPUAllocator: not enough memory: you tried to allocate ", n, " bytes.");
    }
    if (n >= g_min_advise) {
      advise_huge(p, n);  // before first touch: glibc has written only the block's header
    }
    return {p, p, &free_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};

HugePageAllocator g_allocator;

}  // namespace

extern "C" void ssd_install_hugepage_allocator(std::size_t min_advise) {
  g_min_advise = min_advise;
  c10::SetCPUAllocator(&g_allocator, /*priority=*/1);
}

extern "C" void ssd_advise_huge(void* p, std::size_t n) { advise_huge(p, n); }
