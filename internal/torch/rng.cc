// libtorch's default CPU generator state, read and restored for exact resumes
// (torch.get_rng_state / torch.set_rng_state).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>

extern "C" {

// ssd_rng_state_size returns the size in bytes of the generator's state.
int64_t ssd_rng_state_size() {
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state().numel();
  } catch (const std::exception&) {
    return -1;
  }
}

// ssd_rng_get_state copies the state into out (n bytes, n from ssd_rng_state_size);
// returns 0 on success.
int ssd_rng_get_state(uint8_t* out, int64_t n) {
  try {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    auto st = gen.get_state();
    if (st.numel() != n) return 1;
    std::memcpy(out, st.data_ptr(), n);
    return 0;
  } catch (const std::exception&) {
    return 2;
  }
}

// ssd_rng_set_state restores a state read by ssd_rng_get_state; returns 0 on success.
int ssd_rng_set_state(const uint8_t* in, int64_t n) {
  try {
    auto st = at::empty({n}, at::kByte);
    std::memcpy(st.data_ptr(), in, n);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(st);
    return 0;
  } catch (const std::exception&) {
    return 2;
  }
}
}
