// The CUDA update pass's per-thread work (src/cuda/update_passes.hpp) run on the host, every thread in
// turn, for the jobs the host side makes (update_job_for): after three steps θ and the optimizer state
// equal zo::Optimizer::step's on the CPU, bit for bit, for every update rule (cases.hpp: momentum,
// weight decay, bias correction, ζ outside the root, AMSGrad on and off), every direction kind with
// block-coordinate selection, two probes, a pending restore or none, and every storage type.
// kernels_test.cpp runs the same on the device.
#include "update_job.hpp"
#include "update_passes.hpp"

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/cuda/update.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"

#include <gtest/gtest.h>

#include "cases.hpp"
#include "host_emulation.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using zo_cuda_test::all_kinds;
using zo_cuda_test::describe;
using zo_cuda_test::kParams;
using zo_cuda_test::rule_cases;
using zo_cuda_test::UpdateRun;

namespace d = zo::cuda::detail;
using zo_cuda_test::run_update_on_host;

TEST(CudaUpdateOnHost, EqualsOptimizerStepForEveryRuleKindAndStorageType) {
  for (const auto& [label, options] : rule_cases()) {
    const std::size_t slots = zo::state_slots(options).size();
    for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
      for (const zo::DirectionOptions& kind : all_kinds()) {
        UpdateRun run(options, dtype, kind);
        std::vector<std::vector<std::uint8_t>> emulated = run.start();
        std::vector<std::vector<std::vector<float>>> state(kParams.size());  // [param][slot], made when it moves
        for (std::int64_t step = 0; step < 3; ++step) {
          auto [estimate, rows] = run.step(step);
          for (zo::ParamUpdate& row : rows) {
            const zo::Param& p = run.cpu().param(row.param);
            auto& s = state[row.param];
            if (s.empty()) s.assign(slots, std::vector<float>(std::size_t(p.numel), 0.0f));
            for (std::size_t k = 0; k < slots; ++k) row.state[k] = s[k].data();
            d::UpdateJob j = d::update_job_for(run.direction(), options, estimate, p, row);
            j.theta = emulated[row.param].data();
            zo_cuda_test::with_mode(dtype, [&]<int Mode>() { run_update_on_host<Mode>(run.direction(), estimate, p, j); });
          }
        }
        const std::string where = label + ", " + describe(kind) + ", " + std::string(zo::to_string(dtype));
        const zo::StateDict sd = run.state_dict();
        std::size_t tensors = 0;
        for (std::size_t i = 0; i < kParams.size(); ++i) {
          ASSERT_TRUE(emulated[i] == run.cpu_bytes(i)) << where << ", param " << kParams[i].first;
          for (std::size_t k = 0; k < state[i].size(); ++k, ++tensors) {
            const std::string key = kParams[i].first + "/" + zo::state_slots(options)[k];
            const auto it = sd.tensors.find(key);
            ASSERT_NE(it, sd.tensors.end()) << where << ": the CPU optimizer has no state " << key;
            ASSERT_TRUE(it->second == state[i][k]) << where << ", state " << key;
          }
        }
        ASSERT_EQ(sd.tensors.size(), tensors) << where << ": the CPU keeps other state than state_slots names";
      }
    }
  }
}

}  // namespace
