// Synchronised BatchNorm: a torch::autograd::Function whose forward normalises with the
// statistics of every rank's batch and whose backward reduces the two per-channel sums the
// input gradient needs over every rank, so that N ranks of batch B compute what one process
// computes with plain BatchNorm on the concatenated batch of N·B.
//
// Forward: each rank computes its per-channel count n_r, mean m_r and sum of squared
// deviations M2_r = n_r·var_r (var_mean: a two-pass/Welford reduction, accurate in float32),
// the ranks all-gather them in float64, and every rank combines them in the same order with
// Chan's parallel formula: N = Σ n_r, mean = Σ n_r m_r / N, M2 = Σ (M2_r + n_r (m_r − mean)²).
// Unlike sum and sum-of-squares, this never subtracts two large nearly equal numbers, so the
// global variance keeps float32's relative precision however large the mean is. Running
// statistics move as torch's SyncBatchNorm moves them: momentum towards the global mean and
// the unbiased global variance M2 / (N − 1).
//
// Backward: with x̂ = (x − mean)·invstd and upstream gradient dy, each rank sums dy and
// dy·(x − mean) per channel (float64 accumulation, as libtorch's CPU batch_norm does), the
// ranks all-reduce the two sums, and
//   dx = w·invstd·(dy − Σdy/N − (x − mean)·invstd²·Σdy(x − mean)/N).
// The weight and bias gradients are this rank's own sums (Σdy·x̂ and Σdy): the
// data-parallel trainer sums gradients over the ranks afterwards, as DDP does.
//
// A rank whose batch is empty still takes part (count 0), so the collectives match.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dist.h"
#include "dist_internal.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// reduceDims is every dimension but the channel one (1).
std::vector<int64_t> reduceDims(const at::Tensor& x) {
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < x.dim(); i++)
    if (i != 1) dims.push_back(i);
  return dims;
}

// chan returns x's shape with -1 for the channels and 1 elsewhere (a per-channel vector
// viewed to broadcast over x).
std::vector<int64_t> chanShape(const at::Tensor& x) {
  std::vector<int64_t> s(x.dim(), 1);
  s[1] = -1;
  return s;
}

struct SyncBN : public torch::autograd::Function<SyncBN> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor weight, at::Tensor bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps,
                            int64_t handle) {
    auto* d = reinterpret_cast<ssd_dist*>(handle);
    TORCH_CHECK(x.dim() >= 2, "sync batch norm: expected an input of at least 2 dimensions, got ", x.dim());
    const int64_t C = x.size(1);
    const auto f64 = x.options().dtype(at::kDouble);
    const int64_t n = C > 0 ? x.numel() / C : 0;
    const auto dims = reduceDims(x);

    // this rank's [mean (C), M2 (C), count (1)] in float64
    auto local = at::zeros({2 * C + 1}, f64);
    if (n > 0) {
      auto vm = at::var_mean(x, dims, /*unbiased=*/false, /*keepdim=*/false);
      local.narrow(0, 0, C).copy_(std::get<1>(vm));
      local.narrow(0, C, C).copy_(std::get<0>(vm).to(at::kDouble).mul_(static_cast<double>(n)));
    }
    local[2 * C] = static_cast<double>(n);
    std::vector<at::Tensor> parts;
    for (int i = 0; i < d->pg->getSize(); i++) parts.push_back(at::empty_like(local));
    {
      c10d::AllgatherOptions o;
      o.timeout = d->timeout;
      std::vector<std::vector<at::Tensor>> out{parts};
      std::vector<at::Tensor> in{local};
      d->pg->allgather(out, in, o)->wait();
      parts = out[0];
    }
    // combine in rank order (the same on every rank, so every rank gets the same bits)
    auto all = at::stack(parts, 0);                         // [W, 2C+1]
    auto counts = all.select(1, 2 * C).unsqueeze(1);        // [W, 1]
    const double N = counts.sum().item<double>();
    TORCH_CHECK(N > 1, "sync batch norm: expected more than 1 value per channel when training over all ranks, got ",
                N, " (input shape ", x.sizes(), " on this rank)");
    auto means = all.narrow(1, 0, C);
    auto mean = (means * counts).sum(0) / N;
    auto m2 = (all.narrow(1, C, C) + counts * (means - mean).pow(2)).sum(0);
    auto var = m2 / N;
    auto invstd = (var + eps).rsqrt();

    {
      at::NoGradGuard ng;
      runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()), momentum);
      runningVar.mul_(1 - momentum).add_((m2 / (N - 1)).to(runningVar.scalar_type()), momentum);
    }

    // y = x·alpha + beta with alpha = w·invstd, beta = b − mean·alpha (per channel, float64)
    auto alpha = invstd;
    if (weight.defined()) alpha = alpha * weight.to(at::kDouble);
    auto beta = -mean * alpha;
    if (bias.defined()) beta = beta + bias.to(at::kDouble);
    const auto shape = chanShape(x);
    auto y = at::addcmul(beta.to(x.scalar_type()).view(shape), x, alpha.to(x.scalar_type()).view(shape));

    ctx->save_for_backward({x, weight});
    ctx->saved_data["mean"] = mean;
    ctx->saved_data["invstd"] = invstd;
    ctx->saved_data["count"] = N;
    ctx->saved_data["handle"] = handle;
    ctx->saved_data["call"] = ++d->bnCalls;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0];
    auto weight = saved[1];
    auto mean = ctx->saved_data["mean"].toTensor();
    auto invstd = ctx->saved_data["invstd"].toTensor();
    const double N = ctx->saved_data["count"].toDouble();
    auto* d = reinterpret_cast<ssd_dist*>(ctx->saved_data["handle"].toInt());
    const int64_t C = x.size(1);
    const auto dims = reduceDims(x);
    const auto shape = chanShape(x);

    auto dy = grads[0].defined() ? grads[0] : at::zeros_like(x);
    auto xmu = x - mean.to(x.scalar_type()).view(shape);
    // the two sums, then this layer's forward call number: every rank must reduce the same
    // layer's sums together (a mismatch would mix two layers silently)
    const double call = static_cast<double>(ctx->saved_data["call"].toInt());
    auto sums = at::cat({dy.sum(dims, false, at::kDouble), (dy * xmu).sum(dims, false, at::kDouble),
                         at::full({1}, call, x.options().dtype(at::kDouble))},
                        0);

    // the parameter gradients: this rank's part (the trainer sums them over the ranks)
    at::Tensor gw, gb;
    if (weight.defined()) {
      gw = (sums.narrow(0, C, C) * invstd).to(weight.scalar_type());
      gb = sums.narrow(0, 0, C).to(weight.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
    }

    {
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      o.timeout = d->timeout;
      std::vector<at::Tensor> one{sums};
      d->pg->allreduce(one, o)->wait();
    }
    const double calls = sums[2 * C].item<double>();
    TORCH_CHECK(calls == call * d->pg->getSize(), "sync batch norm: the ranks' backward passes reached different layers (",
                "this rank's forward call ", call, ", the ranks' sum ", calls, "): the model must be the same on every rank");
    auto meanDy = sums.narrow(0, 0, C) / N;
    auto meanDyXmu = sums.narrow(0, C, C) / N;
    auto w = weight.defined() ? weight.to(at::kDouble) : at::ones({C}, sums.options());
    // dx = dy·a + xmu·b + c, per channel a = w·invstd, b = −w·invstd³·mean(dy·xmu), c = −w·invstd·mean(dy)
    auto a = w * invstd;
    auto b = -a * invstd * invstd * meanDyXmu;
    auto c = -a * meanDy;
    const auto st = x.scalar_type();
    auto dx = at::addcmul(at::addcmul(c.to(st).view(shape), dy, a.to(st).view(shape)), xmu, b.to(st).view(shape));

    return {dx, gw, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// fail stores the current exception's message in *err and returns 1.
int failed(char** err) {
  std::string msg;
  try {
    throw;
  } catch (const c10::Error& e) {
    msg = e.what_without_backtrace();
  } catch (const std::exception& e) {
    msg = e.what();
  } catch (...) {
    msg = "unknown C++ exception";
  }
  char* p = static_cast<char*>(std::malloc(msg.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, msg.data(), msg.size());
    p[msg.size()] = 0;
  }
  *err = p;
  return 1;
}

at::Tensor orNone(void* t) { return t == nullptr ? at::Tensor() : *static_cast<at::Tensor*>(t); }

}  // namespace

extern "C" int ssd_dist_sync_batch_norm(ssd_dist* d, void* x, void* weight, void* bias, void* runningMean,
                                        void* runningVar, double momentum, double eps, void** out, char** err) {
  try {
    auto y = SyncBN::apply(*static_cast<at::Tensor*>(x), orNone(weight), orNone(bias),
                           *static_cast<at::Tensor*>(runningMean), *static_cast<at::Tensor*>(runningVar), momentum,
                           eps, reinterpret_cast<int64_t>(d));
    *out = new at::Tensor(std::move(y));
    return 0;
  } catch (...) {
    return failed(err);
  }
}
