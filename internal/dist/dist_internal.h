// The C++ side of dist.h's opaque handles, shared by dist.cc and syncbn.cc.
#ifndef SSD_DIST_INTERNAL_H
#define SSD_DIST_INTERNAL_H
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <cstdint>

struct ssd_dist {
  c10::intrusive_ptr<c10d::Store> store;  // the rendezvous (rank 0 serves it)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
  int64_t bnCalls = 0;  // synchronised batch norm forwards so far (the same count on every rank)
};
#endif
