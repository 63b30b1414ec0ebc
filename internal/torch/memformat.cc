// Memory formats: gotch v0.7.0 has no memory_format argument, so channels-last (NHWC)
// layouts, in which oneDNN's convolutions run without layout conversions, come from here.
#include <ATen/core/Tensor.h>

#include <exception>

extern "C" {

// ssd_channels_last sets *out to a new handle on t laid out channels-last (t itself when
// it already is); returns 0 on success, 1 on error.
int ssd_channels_last(void* t, void** out) {
  try {
    auto* x = static_cast<at::Tensor*>(t);
    *out = new at::Tensor(x->contiguous(at::MemoryFormat::ChannelsLast));
    return 0;
  } catch (const std::exception&) {
    return 1;
  }
}

// ssd_set_channels_last re-lays the data of t (a 4-D variable) out channels-last in
// place (Tensor::set_data: the same variable, its values unchanged); returns 0 on
// success, 1 on error.
int ssd_set_channels_last(void* t) {
  try {
    auto* x = static_cast<at::Tensor*>(t);
    if (!x->is_contiguous(at::MemoryFormat::ChannelsLast)) {
      x->set_data(x->contiguous(at::MemoryFormat::ChannelsLast));
    }
    return 0;
  } catch (const std::exception&) {
    return 1;
  }
}

// ssd_is_channels_last reports whether t is laid out channels-last (1), not (0), or an
// error (-1).
int ssd_is_channels_last(void* t) {
  try {
    return static_cast<at::Tensor*>(t)->is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0;
  } catch (const std::exception&) {
    return -1;
  }
}

}  // extern "C"
