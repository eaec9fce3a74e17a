// A ParamSet with a backend (zo/core/backend.hpp, zo/optim/update_backend.hpp) trains as one in host
// memory does: the estimator's perturbations go through the backend's perturb, the optimizer keeps its
// state in the backend's memory and updates through the backend, and θ and the state dict after the
// run equal the CPU run's bit for bit, for every update rule, direction kind and storage type. The
// backend here is the CUDA kernels' code run on the host (host_emulation.hpp); kernels_test.cpp runs
// zo::cuda::DeviceBackend itself on a GPU. Also: the state moves to the host and back when the
// params do, a state dict loads into an optimizer on a backend, and what the optimizer refuses.
#include "zo/core/backend.hpp"
#include "zo/core/direction.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include "cases.hpp"
#include "host_emulation.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using zo_cuda_test::all_kinds;
using zo_cuda_test::describe;
using zo_cuda_test::HostEmulatedBackend;
using zo_cuda_test::kParams;
using zo_cuda_test::numel;
using zo_cuda_test::rule_cases;
using zo_cuda_test::stored_start_values;

// kParams stored as `dtype`, with a loss Σ (θ − 0.3)² read through the storage type.
struct Model {
  explicit Model(zo::DType dtype) {
    for (const auto& [name, shape] : kParams) {
      data.push_back(stored_start_values(dtype, numel(shape)));
      params.add(name, dtype, shape, data.back().data());
    }
  }
  double loss() const { return zo_cuda_test::quadratic_loss(params); }
  std::vector<std::vector<std::uint8_t>> data;
  zo::ParamSet params;
};

// Steps [from, to) of MeZO's protocol (central difference, the restore left to the update).
void train(Model& m, const zo::Direction& direction, zo::Optimizer& optimizer, std::int64_t from, std::int64_t to) {
  const zo::Estimator estimator(zo::EstimatorOptions{.eps = 1e-3, .queries = 2});
  for (std::int64_t step = from; step < to; ++step) {
    const zo::Estimate e =
        estimator.estimate([&] { return m.loss(); }, m.params, direction, 5, step, zo::Restore::in_update);
    optimizer.step(m.params, direction, e, optimizer.options().lr);
  }
}

zo::DirectionOptions block_coordinate(zo::DirectionOptions o) {
  o.order = zo::BlockOrder::cyclic;
  o.blocks_per_step = 2;
  return o;
}

TEST(CudaBackendOnHost, TrainsAsTheCpuDoesForEveryRuleKindAndStorageType) {
  for (const auto& [label, options] : rule_cases()) {
    for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
      for (const zo::DirectionOptions& kind : all_kinds()) {
        const zo::DirectionOptions o = block_coordinate(kind);
        Model cpu(dtype), emulated(dtype);
        HostEmulatedBackend backend;
        emulated.params.set_backend(&backend);
        const zo::Direction on_cpu(o, cpu.params), on_backend(o, emulated.params);
        const auto cpu_optimizer = zo::Optimizer::create(options);
        const auto backend_optimizer = zo::Optimizer::create(options);
        train(cpu, on_cpu, *cpu_optimizer, 0, 3);
        train(emulated, on_backend, *backend_optimizer, 0, 3);
        const std::string where = label + ", " + describe(kind) + ", " + std::string(zo::to_string(dtype));
        EXPECT_EQ(backend.perturbs, 3 * 5) << where << ": +εz and −2εz for each of two probes, +εz to restore the "
                                                       "first; the second's restore is in the update";
        EXPECT_EQ(backend.updates, 3) << where;
        for (std::size_t i = 0; i < kParams.size(); ++i) {
          ASSERT_TRUE(emulated.data[i] == cpu.data[i]) << where << ", param " << kParams[i].first;
        }
        const zo::StateDict want = cpu_optimizer->state_dict(), got = backend_optimizer->state_dict();
        ASSERT_TRUE(got.tensors == want.tensors) << where;
        ASSERT_TRUE(got.scalars == want.scalars) << where;
        EXPECT_EQ(backend_optimizer->state_bytes(), cpu_optimizer->state_bytes()) << where;
      }
    }
  }
}

TEST(CudaBackendOnHost, StateFollowsTheParamsToTheHostAndBackAndLoadsFromAStateDict) {
  for (const auto& [label, options] : rule_cases()) {
    const zo::DirectionOptions o = block_coordinate({});
    Model cpu(zo::DType::f32), moved(zo::DType::f32);
    HostEmulatedBackend backend;
    const zo::Direction on_cpu(o, cpu.params), on_moved(o, moved.params);
    const auto cpu_optimizer = zo::Optimizer::create(options);
    auto moved_optimizer = zo::Optimizer::create(options);
    train(cpu, on_cpu, *cpu_optimizer, 0, 8);
    moved.params.set_backend(&backend);
    train(moved, on_moved, *moved_optimizer, 0, 2);
    moved.params.set_backend(nullptr);  // the state comes back to the host
    train(moved, on_moved, *moved_optimizer, 2, 4);
    moved.params.set_backend(&backend);  // and goes to the backend again
    train(moved, on_moved, *moved_optimizer, 4, 6);
    // A fresh optimizer on the backend, loaded from a state dict, goes on as the first would have.
    const zo::StateDict saved = moved_optimizer->state_dict();
    moved_optimizer = zo::Optimizer::create(options);
    moved_optimizer->load_state_dict(saved, moved.params);
    train(moved, on_moved, *moved_optimizer, 6, 8);
    for (std::size_t i = 0; i < kParams.size(); ++i) {
      ASSERT_TRUE(moved.data[i] == cpu.data[i]) << label << ", param " << kParams[i].first;
    }
    ASSERT_TRUE(moved_optimizer->state_dict().tensors == cpu_optimizer->state_dict().tensors) << label;
    moved_optimizer.reset();
    EXPECT_EQ(backend.allocations, 0) << label << ": state left in the backend's memory";
  }
}

TEST(CudaBackendOnHost, ActiveBlockStateIsFreedInTheBackend) {
  zo::OptimizerOptions options;
  options.kind = zo::OptimizerKind::r_adazo;
  options.state = zo::StateScope::active_block;
  Model m(zo::DType::f32);
  HostEmulatedBackend backend;
  m.params.set_backend(&backend);
  zo::DirectionOptions o;
  o.order = zo::BlockOrder::cyclic;  // one block a step
  const zo::Direction direction(o, m.params);
  const auto optimizer = zo::Optimizer::create(options);
  train(m, direction, *optimizer, 0, 2);
  const auto last = direction.active_blocks(5, 1);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(backend.allocations, 2) << "m and v of the one active param";
  EXPECT_EQ(optimizer->state_bytes(), 2 * m.params.param(last[0]).numel * 4) << "the state of step 1's block alone";
}

// A backend that runs perturbations but no update pass.
class PerturbOnly final : public zo::Backend {
 public:
  std::string_view name() const override { return "perturb-only"; }
  void perturb(zo::ParamSet& params, const zo::Direction& direction, std::span<const std::uint32_t> blocks,
               const zo::Draw& draw, float alpha) const override {
    zo::ParamSet host = params;
    host.set_backend(nullptr);
    zo::perturb(host, direction, blocks, draw, alpha);
    ++perturbs;
  }
  float* allocate_floats(std::int64_t numel) const override { return new float[std::size_t(numel)](); }
  void release_floats(float* data) const noexcept override { delete[] data; }
  void download_floats(const float*, std::int64_t, float*) const override {}
  void upload_floats(const float*, std::int64_t, float*) const override {}
  mutable int perturbs = 0;
};

TEST(CudaBackendOnHost, RefusesWhatItCannotRunAndRestoresTheta) {
  Model m(zo::DType::f32), reference(zo::DType::f32);
  PerturbOnly backend;
  m.params.set_backend(&backend);
  const zo::Direction direction({}, m.params);
  const auto optimizer = zo::Optimizer::create({});
  const zo::Estimator estimator(zo::EstimatorOptions{});
  const zo::Estimate e = estimator.estimate([&] { return m.loss(); }, m.params, direction, 5, 0, zo::Restore::in_update);
  ASSERT_TRUE(e.restore.pending());
  zo::Estimate on_cpu = estimator.estimate([&] { return reference.loss(); }, reference.params, direction, 5, 0,
                                           zo::Restore::in_update);
  zo::finish_restore(reference.params, direction, on_cpu);
  try {
    optimizer->step(m.params, direction, e, 1e-3);
    FAIL() << "an update through a backend without an update pass was accepted";
  } catch (const zo::Error& err) {
    EXPECT_NE(std::string(err.what()).find("the params' data is in perturb-only memory, whose backend runs no update pass"),
              std::string::npos)
        << err.what();
  }
  EXPECT_EQ(backend.perturbs, 3) << "+εz, −2εz, then the restore on refusal";
  for (std::size_t i = 0; i < kParams.size(); ++i) {
    EXPECT_TRUE(m.data[i] == reference.data[i]) << "θ got its restore, as on the CPU; param " << kParams[i].first;
  }
  std::vector<zo::Draw> draws = {e.probes[0].draw};
  try {
    zo::fused_update(m.params, direction, e.blocks, draws, [](const zo::UpdateChunk&) {});
    FAIL() << "the CPU pass ran over a backend's memory";
  } catch (const zo::Error& err) {
    EXPECT_NE(std::string(err.what()).find("perturb-only memory; the CPU pass reads host memory only"),
              std::string::npos)
        << err.what();
  }
}

}  // namespace
