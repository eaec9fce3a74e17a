// The CUDA passes' per-thread work (src/cuda/passes.hpp) run on the host, every thread in turn, for
// the jobs the host side makes (job_for): z equals Direction::fill and θ equals zo::perturb's, bit
// for bit, for every direction kind and storage type. This checks the kernels' logic without a GPU;
// kernels_test.cpp checks the same on the device.
#include "job.hpp"
#include "passes.hpp"

#include "zo/core/direction.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/params.hpp"
#include "zo/core/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using zo::cuda::detail::Job;

// launch.cu's choice of pass, its threads run one after the other; the low-rank factors first.
template <int Mode>
void run_on_host(Job j) {
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

std::vector<zo::DirectionOptions> all_kinds() {
  std::vector<zo::DirectionOptions> out;
  for (const auto dist : {zo::Distribution::gaussian, zo::Distribution::rademacher, zo::Distribution::sphere}) {
    zo::DirectionOptions o;
    o.distribution = dist;
    out.push_back(o);
  }
  for (const auto dist : {zo::Distribution::gaussian, zo::Distribution::rademacher}) {
    for (const auto& [keep, granule] : {std::pair{0.1, 1}, std::pair{0.1, 16}, std::pair{0.5, 64}, std::pair{1.0, 1}}) {
      zo::DirectionOptions o;
      o.kind = zo::DirectionKind::sparse;
      o.distribution = dist;
      o.keep = keep;
      o.granule = granule;
      out.push_back(o);
    }
    for (const int rank : {1, 4, 11}) {
      zo::DirectionOptions o;
      o.kind = zo::DirectionKind::low_rank;
      o.distribution = dist;
      o.rank = rank;
      out.push_back(o);
    }
  }
  return out;
}

std::string describe(const zo::DirectionOptions& o) {
  return std::string(zo::to_string(o.kind)) + " " + std::string(zo::to_string(o.distribution)) + " keep " +
         std::to_string(o.keep) + " granule " + std::to_string(o.granule) + " rank " + std::to_string(o.rank);
}

// A 2-D param (low-rank applies), a 1-D one that ends inside a sparse span and spans several, a scalar.
const std::vector<std::pair<std::string, std::vector<std::int64_t>>> kParams = {
    {"layers.0.weight", {37, 300}}, {"layers.0.bias", {5000}}, {"scale", {1}}};

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

TEST(CudaPassesOnHost, FillEqualsDirectionFill) {
  std::vector<std::vector<float>> storage;
  zo::ParamSet set;
  for (const auto& [name, shape] : kParams) {
    storage.emplace_back(std::size_t(numel(shape)));
    set.add(name, zo::DType::f32, shape, storage.back().data());
  }
  std::vector<std::uint32_t> all;
  for (std::uint32_t b = 0; b < set.blocks().size(); ++b) all.push_back(b);
  for (const zo::DirectionOptions& o : all_kinds()) {
    const zo::Direction direction(o, set);
    const zo::Draw draw = direction.draw(set, all, 0x1234567890abcdefull);
    if (o.distribution == zo::Distribution::sphere) {
      ASSERT_NE(draw.scale, 1.0f);
    }
    for (const zo::Param& p : set.params()) {
      for (const auto& [begin, end] : {std::pair<std::int64_t, std::int64_t>{0, p.numel},
                                       std::pair<std::int64_t, std::int64_t>{std::min<std::int64_t>(13, p.numel - 1),
                                                                             std::max<std::int64_t>(p.numel - 7, 14)}}) {
        const std::int64_t n = std::min(end, p.numel) - begin;
        std::vector<float> want(static_cast<std::size_t>(n)), got(static_cast<std::size_t>(n), 0.0f);
        direction.fill(p, draw, begin, n, want.data());
        Job j = zo::cuda::detail::job_for(direction, p, draw);
        j.out = got.data();
        j.begin = begin;
        j.end = begin + n;
        run_on_host<zo::cuda::detail::kFill>(j);
        ASSERT_EQ(std::memcmp(want.data(), got.data(), std::size_t(n) * sizeof(float)), 0)
            << describe(o) << ", param " << p.name << ", elements [" << begin << ", " << begin + n << ")";
      }
    }
  }
}

TEST(CudaPassesOnHost, PerturbEqualsCpuPerturbInEveryStorageType) {
  for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
    const std::size_t width = zo::size_of(dtype);
    for (const zo::DirectionOptions& base : all_kinds()) {
      zo::DirectionOptions o = base;
      o.order = zo::BlockOrder::cyclic;  // block-coordinate: two of the three params move at each step
      o.blocks_per_step = 2;
      std::vector<std::vector<std::uint8_t>> cpu_data, emulated;
      zo::ParamSet cpu;
      for (const auto& [name, shape] : kParams) {
        const std::int64_t n = numel(shape);
        std::vector<float> values(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) values[std::size_t(i)] = 0.01f * float((i * 7919) % 2001 - 1000);
        cpu_data.emplace_back(std::size_t(n) * width);
        zo::from_f32(dtype, values.data(), cpu_data.back().data(), std::size_t(n));
        cpu.add(name, dtype, shape, cpu_data.back().data());
      }
      emulated = cpu_data;
      const zo::Direction direction(o, cpu);
      for (std::int64_t step = 0; step < 3; ++step) {
        const auto blocks = direction.active_blocks(7, step);
        const zo::Draw draw = direction.draw(cpu, blocks, zo::derive_seed(7, std::uint64_t(step)));
        const float alpha = step == 1 ? -2e-3f : 1e-3f;
        zo::perturb(cpu, direction, blocks, draw, alpha);
        for (const std::uint32_t b : blocks) {
          for (const std::size_t i : cpu.blocks()[b].params) {
            Job j = zo::cuda::detail::job_for(direction, cpu.param(i), draw);
            j.theta = emulated[i].data();
            j.dtype = dtype;
            j.alpha = alpha;
            if (dtype == zo::DType::f32) run_on_host<int(zo::DType::f32)>(j);
            if (dtype == zo::DType::f16) run_on_host<int(zo::DType::f16)>(j);
            if (dtype == zo::DType::bf16) run_on_host<int(zo::DType::bf16)>(j);
          }
        }
      }
      for (std::size_t k = 0; k < cpu_data.size(); ++k) {
        ASSERT_EQ(emulated[k], cpu_data[k]) << describe(o) << ", " << zo::to_string(dtype) << ", param " << kParams[k].first;
      }
    }
  }
}

}  // namespace
