// A thin C layer over libtorch's c10d: a TCPStore rendezvous and a ProcessGroupGloo, with
// every C++ exception caught and returned as a malloc'd message (the Go side frees it).
// Tensors arrive as the torch::Tensor* handles that gotch's ts.Tensor wraps.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "dist.h"
#include "dist_internal.h"


struct ssd_store {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

namespace {

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = 0;
  }
  return p;
}

// fail stores the current exception's message in *err and returns code.
int fail(char** err, int code) {
  try {
    throw;
  } catch (const c10::Error& e) {
    *err = dup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = dup(e.what());
  } catch (...) {
    *err = dup("unknown C++ exception");
  }
  return code;
}

std::vector<at::Tensor> tensors(void** ts, int n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(*static_cast<at::Tensor*>(ts[i]));
  return out;
}

c10d::ReduceOp reduceOp(int op) {
  switch (op) {
    case SSD_DIST_SUM:
      return c10d::ReduceOp::SUM;
    case SSD_DIST_MAX:
      return c10d::ReduceOp::MAX;
    case SSD_DIST_MIN:
      return c10d::ReduceOp::MIN;
  }
  throw std::invalid_argument("unknown reduce op " + std::to_string(op));
}

// waitAll waits for every work item, then rethrows the first failure.
void waitAll(std::vector<c10::intrusive_ptr<c10d::Work>>& works) {
  std::exception_ptr first;
  for (auto& w : works) {
    try {
      w->wait();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace

extern "C" {

ssd_store* ssd_store_new(const char* host, int port, int server, int world, int64_t timeout_ms, char** err) {
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = server != 0;
    if (server && world > 0) o.numWorkers = static_cast<std::size_t>(world);
    o.waitWorkers = false;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    auto s = new ssd_store;
    try {
      s->store = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
    } catch (...) {
      delete s;
      throw;
    }
    return s;
  } catch (...) {
    fail(err, 1);
    return nullptr;
  }
}

int ssd_store_port(ssd_store* s) { return s->store->getPort(); }

int ssd_store_add(ssd_store* s, const char* key, int64_t delta, int64_t* out, char** err) {
  try {
    *out = s->store->add(key, delta);
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

int ssd_store_set(ssd_store* s, const char* key, const uint8_t* val, int64_t n, char** err) {
  try {
    s->store->set(key, std::vector<uint8_t>(val, val + n));
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

// ssd_store_get waits (up to the store's timeout) for key and returns its value in *out
// (malloc'd, *n bytes).
int ssd_store_get(ssd_store* s, const char* key, uint8_t** out, int64_t* n, char** err) {
  try {
    auto v = s->store->get(key);
    *n = static_cast<int64_t>(v.size());
    *out = static_cast<uint8_t*>(std::malloc(v.size() > 0 ? v.size() : 1));
    if (!v.empty()) std::memcpy(*out, v.data(), v.size());
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

void ssd_store_free(ssd_store* s) {
  try {
    delete s;
  } catch (...) {
  }
}

ssd_dist* ssd_dist_new(ssd_store* s, const char* prefix, int rank, int world, const char* iface, const char* host,
                       int64_t timeout_ms, char** err) {
  try {
    auto d = new ssd_dist;
    try {
      d->timeout = std::chrono::milliseconds(timeout_ms);
      d->store = c10::make_intrusive<c10d::PrefixStore>(prefix, s->store);
      auto opts = c10d::ProcessGroupGloo::Options::create(d->timeout);
      if (iface != nullptr && iface[0] != 0) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
      } else if (host != nullptr && host[0] != 0) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 2;
      d->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(d->store, rank, world, opts);
    } catch (...) {
      delete d;
      throw;
    }
    return d;
  } catch (...) {
    fail(err, 1);
    return nullptr;
  }
}

int ssd_dist_allreduce(ssd_dist* d, void** ts, int n, int op, char** err) {
  try {
    c10d::AllreduceOptions o;
    o.reduceOp = reduceOp(op);
    o.timeout = d->timeout;
    // one work item per tensor: gloo's worker threads run them while the next is queued
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors(ts, n)) {
      std::vector<at::Tensor> one{t};
      works.push_back(d->pg->allreduce(one, o));
    }
    waitAll(works);
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

int ssd_dist_broadcast(ssd_dist* d, void** ts, int n, int root, char** err) {
  try {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = d->timeout;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors(ts, n)) {
      std::vector<at::Tensor> one{t};
      works.push_back(d->pg->broadcast(one, o));
    }
    waitAll(works);
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

int ssd_dist_allgather(ssd_dist* d, void* in, void** outs, int world, char** err) {
  try {
    c10d::AllgatherOptions o;
    o.timeout = d->timeout;
    std::vector<std::vector<at::Tensor>> output{tensors(outs, world)};
    std::vector<at::Tensor> input{*static_cast<at::Tensor*>(in)};
    auto w = d->pg->allgather(output, input, o);
    w->wait();
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

int ssd_dist_barrier(ssd_dist* d, char** err) {
  try {
    c10d::BarrierOptions o;
    o.timeout = d->timeout;
    auto w = d->pg->barrier(o);
    w->wait();
    return 0;
  } catch (...) {
    return fail(err, 1);
  }
}

void ssd_dist_free(ssd_dist* d) {
  try {
    delete d;
  } catch (...) {
  }
}

}  // extern "C"
