// The CUDA kernels' choice of pass and their threads, run on the host one after the other over host
// memory: the device code's logic without a GPU (the test programs are compiled without fma
// contraction, as the device code is with -fmad=false). HostEmulatedBackend puts both behind
// zo::UpdateBackend, as zo::cuda::DeviceBackend puts the kernels.
#pragma once

#include "job.hpp"
#include "passes.hpp"
#include "update_job.hpp"
#include "update_passes.hpp"

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/update_backend.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace zo_cuda_test {

// launch.cu's choice of pass for a job, its threads one after the other; the low-rank factors first.
template <int Mode>
void run_on_host(zo::cuda::detail::Job j) {
  namespace d = zo::cuda::detail;
  std::vector<float> u, v;
  if (j.rank > 0) {
    u.resize(std::size_t(j.rows * j.rank));
    v.resize(std::size_t(j.cols * j.rank));
    const std::int64_t u_count = j.rows * j.rank;
    for (std::int64_t t = 0; t < u_count + j.cols * j.rank; ++t) {
      d::factor_thread(j.seed, j.key, j.rademacher, j.factor, u_count, u.data(), v.data(), t);
    }
    j.u = u.data();
    j.v = v.data();
    for (std::int64_t t = 0; t < d::low_rank_threads(j); ++t) d::low_rank_thread<Mode>(j, t);
  } else if (j.sparse) {
    for (std::int64_t t = 0; t < d::sparse_threads(j); ++t) d::sparse_thread<Mode>(j, t);
  } else {
    for (std::int64_t t = 0; t < d::dense_threads(j); ++t) d::dense_thread<Mode>(j, t);
  }
}

template <class F>
void with_mode(zo::DType dtype, F f) {
  if (dtype == zo::DType::f32) f.template operator()<int(zo::DType::f32)>();
  if (dtype == zo::DType::f16) f.template operator()<int(zo::DType::f16)>();
  if (dtype == zo::DType::bf16) f.template operator()<int(zo::DType::bf16)>();
}

// The update pass's threads for one job; z filled by Direction::fill (which the device fill equals,
// passes_test.cpp), in two pieces, when it is not drawn in the pass.
template <int Mode>
void run_update_on_host(const zo::Direction& direction, const zo::Estimate& estimate, const zo::Param& p,
                        zo::cuda::detail::UpdateJob j) {
  namespace d = zo::cuda::detail;
  if (d::drawn_in_pass(direction, p)) {
    for (std::int64_t t = 0; t < d::update_drawn_threads(j); ++t) d::update_drawn_thread<Mode>(j, t);
    return;
  }
  const std::int64_t piece = p.numel / 2 + 1;
  std::vector<float> scratch(estimate.probes.size() * std::size_t(piece));
  for (std::int64_t begin = 0; begin < p.numel; begin += piece) {
    const std::int64_t n = std::min(piece, p.numel - begin);
    for (std::size_t k = 0; k < estimate.probes.size(); ++k) {
      direction.fill(p, estimate.probes[k].draw, begin, n, scratch.data() + k * std::size_t(piece));
    }
    j.begin = begin;
    j.end = begin + n;
    j.z_scratch = scratch.data();
    j.stride = piece;
    for (std::int64_t t = 0; t < d::update_scratch_threads(j); ++t) d::update_scratch_thread<Mode>(j, t);
  }
}

// zo::cuda::DeviceBackend with the device replaced by the host: the same jobs (job_for,
// update_job_for), the same refusals (check_update), the threads run by the functions above. Counts
// its passes, so that a test sees the work go through it.
class HostEmulatedBackend final : public zo::UpdateBackend {
 public:
  std::string_view name() const override { return "emulated CUDA"; }
  void perturb(zo::ParamSet& params, const zo::Direction& direction, std::span<const std::uint32_t> blocks,
               const zo::Draw& draw, float alpha) const override {
    ++perturbs;
    for (const std::uint32_t b : blocks) {
      for (const std::size_t i : params.blocks()[b].params) {
        const zo::Param& p = params.param(i);
        zo::cuda::detail::Job j = zo::cuda::detail::job_for(direction, p, draw);
        j.theta = p.data;
        j.dtype = p.dtype;
        j.alpha = alpha;
        with_mode(p.dtype, [&]<int Mode>() { run_on_host<Mode>(j); });
      }
    }
  }
  void update(zo::ParamSet& params, const zo::Direction& direction, const zo::Estimate& estimate,
              const zo::OptimizerOptions& options, std::span<const zo::ParamUpdate> moving) const override {
    ++updates;
    zo::cuda::detail::check_update(params, estimate, options, moving);
    for (const zo::ParamUpdate& row : moving) {
      const zo::Param& p = params.param(row.param);
      const zo::cuda::detail::UpdateJob j = zo::cuda::detail::update_job_for(direction, options, estimate, p, row);
      with_mode(p.dtype, [&]<int Mode>() { run_update_on_host<Mode>(direction, estimate, p, j); });
    }
  }
  float* allocate_floats(std::int64_t numel) const override {
    ++allocations;
    return new float[std::size_t(numel)]();
  }
  void release_floats(float* data) const noexcept override {
    --allocations;
    delete[] data;
  }
  void download_floats(const float* data, std::int64_t numel, float* host) const override {
    std::memcpy(host, data, std::size_t(numel) * sizeof(float));
  }
  void upload_floats(const float* host, std::int64_t numel, float* data) const override {
    std::memcpy(data, host, std::size_t(numel) * sizeof(float));
  }

  mutable std::int64_t perturbs = 0;
  mutable std::int64_t updates = 0;
  mutable std::int64_t allocations = 0;  // live
};

}  // namespace zo_cuda_test
