// Gradients: gotch v0.7.0 cannot set a tensor's gradient to none (it only zeroes it).
#include <ATen/core/Tensor.h>

#include <exception>

extern "C" {

// ssd_clear_grad makes t's gradient undefined (PyTorch's `t.grad = None`); returns 0 on
// success, 1 on error.
int ssd_clear_grad(void* t) {
  try {
    static_cast<at::Tensor*>(t)->mutable_grad() = at::Tensor();
    return 0;
  } catch (const std::exception&) {
    return 1;
  }
}

}  // extern "C"
