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

#include "cases.hpp"
#include "host_emulation.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using zo_cuda_test::all_kinds;
using zo_cuda_test::describe;
using zo_cuda_test::kParams;
using zo_cuda_test::numel;
using zo_cuda_test::start_values;

using zo::cuda::detail::Job;
using zo_cuda_test::run_on_host;

TEST(CudaPassesOnHost, FillEqualsDirectionFill) {
  zo_cuda_test::for_each_fill_case([](const zo::DirectionOptions& o, const zo::Direction& direction, const zo::Param& p,
                                      const zo::Draw& draw, std::int64_t begin, std::int64_t n) {
    std::vector<float> want(static_cast<std::size_t>(n)), got(static_cast<std::size_t>(n), 0.0f);
    direction.fill(p, draw, begin, n, want.data());
    Job j = zo::cuda::detail::job_for(direction, p, draw);
    j.out = got.data();
    j.begin = begin;
    j.end = begin + n;
    run_on_host<zo::cuda::detail::kFill>(j);
    ASSERT_EQ(std::memcmp(want.data(), got.data(), std::size_t(n) * sizeof(float)), 0)
        << describe(o) << ", param " << p.name << ", elements [" << begin << ", " << begin + n << ")";
  });
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
        const std::vector<float> values = start_values(n);
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
            zo_cuda_test::with_mode(dtype, [&]<int Mode>() { run_on_host<Mode>(j); });
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
