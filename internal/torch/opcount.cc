// Counts libtorch's operator calls by name through its RecordFunction callbacks: the same
// events torch.autograd.profiler records in Python, so op counts of a step of ours and of
// the reference's compare name for name (`refbench -ops`).
#include <ATen/record_function.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <string>

namespace {
std::mutex mu;
std::map<std::string, int64_t> counts;
at::CallbackHandle handle = 0;

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(mu);
  counts[fn.name()]++;
  return nullptr;
}
}  // namespace

extern "C" {

// ssd_opcount_start clears the counts and starts counting on every thread; 0 on success.
int ssd_opcount_start() {
  try {
    std::lock_guard<std::mutex> lock(mu);
    if (handle != 0) return 1;
    counts.clear();
    handle = at::addGlobalCallback(at::RecordFunctionCallback(on_start).needsInputs(false));
    return 0;
  } catch (const std::exception&) {
    return 2;
  }
}

// ssd_opcount_stop stops counting and writes "name\tcount\n" lines into buf (cap bytes);
// it returns the length the text needs (call again with a larger buffer when it exceeds
// cap: the counts stay until the next start), or -1 on failure.
int64_t ssd_opcount_stop(char* buf, int64_t cap) {
  try {
    std::lock_guard<std::mutex> lock(mu);
    if (handle != 0) {
      at::removeCallback(handle);
      handle = 0;
    }
    std::string out;
    for (const auto& kv : counts) {
      out += kv.first;
      out += '\t';
      out += std::to_string(kv.second);
      out += '\n';
    }
    if (static_cast<int64_t>(out.size()) <= cap) std::memcpy(buf, out.data(), out.size());
    return static_cast<int64_t>(out.size());
  } catch (const std::exception&) {
    return -1;
  }
}
}
