// The CUDA passes against the CPU's: z (Direction::fill), perturbed θ (zo::perturb) and updated θ and
// optimizer state (zo::Optimizer::step) bit for bit, for every direction kind, update rule and storage
// type, and the errors raised before any device work. The device
// tests skip themselves, visibly, where no CUDA device is visible.
#include "zo/core/direction.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/params.hpp"
#include "zo/core/random.hpp"
#include "zo/cuda/backend.hpp"
#include "zo/cuda/kernels.hpp"
#include "zo/cuda/update.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/util/error.hpp"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using zo_cuda_test::all_kinds;
using zo_cuda_test::describe;
using zo_cuda_test::kParams;
using zo_cuda_test::numel;
using zo_cuda_test::rule_cases;
using zo_cuda_test::stored_start_values;
using zo_cuda_test::UpdateRun;

#define SKIP_WITHOUT_DEVICE() \
  if (zo::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: the GPU half of this test needs one"

// Device memory for n bytes, copied from and to the host.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&p_, bytes) != cudaSuccess) throw std::runtime_error("cudaMalloc failed");
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  void upload(const void* host) { ASSERT_EQ(cudaMemcpy(p_, host, bytes_, cudaMemcpyHostToDevice), cudaSuccess); }
  void download(void* host) const {
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(host, p_, bytes_, cudaMemcpyDeviceToHost), cudaSuccess);
  }

 private:
  void* p_ = nullptr;
  std::size_t bytes_;
};


// kParams stored as `dtype` twice, with the same values: in host memory (cpu) and in device memory (gpu).
struct DeviceParams {
  explicit DeviceParams(zo::DType dtype) {
    for (const auto& [name, shape] : kParams) {
      host.push_back(stored_start_values(dtype, numel(shape)));
      device.push_back(std::make_unique<DeviceBuffer>(host.back().size()));
      device.back()->upload(host.back().data());
      cpu.add(name, dtype, shape, host.back().data());
      gpu.add(name, dtype, shape, device.back()->get());
    }
  }
  // The bytes of param k in device memory.
  std::vector<std::uint8_t> downloaded(std::size_t k) const {
    std::vector<std::uint8_t> got(host[k].size());
    device[k]->download(got.data());
    return got;
  }
  std::vector<std::vector<std::uint8_t>> host;
  std::vector<std::unique_ptr<DeviceBuffer>> device;
  zo::ParamSet cpu, gpu;
};

TEST(CudaErrors, BadBlocksAndRangesAreRefusedBeforeAnyDeviceWork) {
  std::vector<float> a(10), b(10);
  zo::ParamSet set;
  set.add("a", zo::DType::f32, {10}, a.data());
  set.add("b", zo::DType::f32, {10}, b.data());
  const zo::Direction direction({}, set);
  const std::vector<std::uint32_t> out_of_range = {5};
  try {
    zo::cuda::perturb(set, direction, out_of_range, {.seed = 1}, 1.0f);
    FAIL() << "block 5 of 2 was accepted";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("block index 5: out of range"), std::string::npos) << e.what();
  }
  const std::vector<std::uint32_t> twice = {1, 1};
  EXPECT_THROW(zo::cuda::perturb(set, direction, twice, {.seed = 1}, 1.0f), zo::Error);
  try {
    zo::cuda::fill(direction, set.param(0), {.seed = 1}, 4, 7, nullptr);
    FAIL() << "elements [4, 11) of a 10-element param were accepted";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("elements [4, 11) of param 'a'"), std::string::npos) << e.what();
  }
}

TEST(CudaErrors, NoDeviceIsAClearError) {
  if (zo::cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is visible: this checks the error without one";
  std::vector<float> a(10);
  zo::ParamSet set;
  set.add("a", zo::DType::f32, {10}, a.data());
  const zo::Direction direction({}, set);
  const std::vector<std::uint32_t> blocks = {0};
  try {
    zo::cuda::perturb(set, direction, blocks, {.seed = 1}, 1.0f);
    FAIL() << "perturb ran with no device";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is visible"), std::string::npos) << e.what();
  }
}

TEST(CudaFill, EqualsDirectionFillBitForBit) {
  SKIP_WITHOUT_DEVICE();
  zo_cuda_test::for_each_fill_case([](const zo::DirectionOptions& o, const zo::Direction& direction, const zo::Param& p,
                                      const zo::Draw& draw, std::int64_t begin, std::int64_t n) {
    std::vector<float> want(static_cast<std::size_t>(n)), got(static_cast<std::size_t>(n));
    direction.fill(p, draw, begin, n, want.data());
    DeviceBuffer out(std::size_t(n) * sizeof(float));
    zo::cuda::fill(direction, p, draw, begin, n, static_cast<float*>(out.get()));
    out.download(got.data());
    ASSERT_EQ(std::memcmp(want.data(), got.data(), std::size_t(n) * sizeof(float)), 0)
        << describe(o) << ", param " << p.name << ", elements [" << begin << ", " << begin + n << ")";
  });
}

TEST(CudaPerturb, EqualsCpuPerturbBitForBitInEveryStorageType) {
  SKIP_WITHOUT_DEVICE();
  for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
    for (const zo::DirectionOptions& base : all_kinds()) {
      zo::DirectionOptions o = base;
      o.order = zo::BlockOrder::cyclic;  // block-coordinate: two of the three params move at each step
      o.blocks_per_step = 2;
      DeviceParams d(dtype);
      zo::ParamSet& cpu = d.cpu;
      zo::ParamSet& gpu = d.gpu;
      const zo::Direction on_cpu(o, cpu);
      const zo::Direction on_gpu(o, gpu);
      for (std::int64_t step = 0; step < 3; ++step) {
        const auto blocks = on_cpu.active_blocks(7, step);
        const zo::Draw draw = on_cpu.draw(cpu, blocks, zo::derive_seed(7, std::uint64_t(step)));
        const float alpha = step == 1 ? -2e-3f : 1e-3f;
        zo::perturb(cpu, on_cpu, blocks, draw, alpha);
        zo::cuda::perturb(gpu, on_gpu, blocks, draw, alpha);
      }
      for (std::size_t k = 0; k < d.host.size(); ++k) {
        ASSERT_TRUE(d.downloaded(k) == d.host[k]) << describe(o) << ", " << zo::to_string(dtype) << ", param "
                                                  << kParams[k].first;
      }
    }
  }
}

TEST(CudaPerturb, HostMemoryIsRefusedNamingTheParam) {
  SKIP_WITHOUT_DEVICE();
  std::vector<float> a(10);
  zo::ParamSet set;
  set.add("on.the.host", zo::DType::f32, {10}, a.data());
  const zo::Direction direction({}, set);
  const std::vector<std::uint32_t> blocks = {0};
  try {
    zo::cuda::perturb(set, direction, blocks, {.seed = 1}, 1.0f);
    FAIL() << "a host pointer was accepted";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("param 'on.the.host'"), std::string::npos) << e.what();
  }
}

// The message of the zo::Error that f throws (fails the test when it throws none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const zo::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no zo::Error was thrown";
  return "";
}

TEST(CudaErrors, BadUpdatesAreRefusedBeforeAnyDeviceWork) {
  std::vector<float> a(10), b(4), m(10), v(10);
  zo::ParamSet set;
  set.add("a", zo::DType::f32, {10}, a.data());
  set.add("b", zo::DType::f32, {4}, b.data());
  const zo::Direction direction({}, set);
  zo::OptimizerOptions options;
  options.kind = zo::OptimizerKind::r_adazo;
  zo::Estimate e;
  e.blocks = {0};
  e.probes = {zo::Probe{{.seed = 3}, 0.5}};
  zo::ParamUpdate row;
  row.param = 0;
  row.lr = 1e-3f;
  row.state[0] = m.data();
  row.state[1] = v.data();
  std::vector<zo::ParamUpdate> rows = {row};
  const auto update = [&] { zo::cuda::update(set, direction, e, options, rows); };
  const auto expect = [&](const std::string& what, const std::string& fragment) {
    const std::string message = error_of(update);
    EXPECT_NE(message.find(fragment), std::string::npos) << what << ": " << message;
  };

  e.finite = false;
  expect("a non-finite estimate", "the estimate is not finite");
  e.finite = true;
  e.probes[0].rho = std::nan("");
  expect("a NaN rho", "probe 0 has rho = nan");
  e.probes[0].rho = 0.5;
  e.probes.assign(zo::cuda::kMaxUpdateProbes + 1, zo::Probe{{.seed = 3}, 0.5});
  expect("too many probes", "17 probes; the CUDA update takes at most 16");
  e.probes.resize(1);
  e.restore = zo::PendingRestore{1, 1e-3f};
  expect("a restore of a probe that is not there", "pending restore of probe 1, the estimate has 1 probes");
  e.restore = {};
  e.blocks = {2};
  expect("a block out of range", "block 2 out of range (the params have 2 blocks)");
  e.blocks = {0, 1};
  expect("a moving param without its row", "param 'b' moves at this step but has no row");
  e.blocks = {0};
  rows = {row, row};
  expect("a param with two rows", "param 'a' has two rows");
  rows = {row};
  rows[0].param = 1;
  expect("a row of a param that does not move", "param 'b' has a row but is in no moving block");
  rows[0].param = 7;
  expect("a row of a param that is not there", "a row names param 7, the ParamSet has 2");
  rows[0] = row;
  rows[0].state[1] = nullptr;
  expect("a null state", "param 'a': its state 'v' is null; r-adazo keeps 2 state tensor(s) per param");
  rows[0] = row;
  rows[0].lr = -1.0f;
  expect("a negative lr", "param 'a': lr = -1: must be finite and >= 0");
  rows[0] = row;
  options.beta2 = 1.5;
  expect("options that do not validate", "beta2");
  options.beta2 = 0.99;
  if (zo::cuda::device_count() == 0) {
    expect("a request without a device", "no CUDA device is visible");
  } else {
    expect("host memory", "param 'a'");
  }
}

TEST(CudaUpdate, EqualsOptimizerStepBitForBitForEveryRuleKindAndStorageType) {
  SKIP_WITHOUT_DEVICE();
  for (const auto& [label, options] : rule_cases()) {
    const std::size_t slots = zo::state_slots(options).size();
    for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
      for (const zo::DirectionOptions& kind : all_kinds()) {
        UpdateRun run(options, dtype, kind);
        zo::ParamSet gpu;
        std::vector<std::unique_ptr<DeviceBuffer>> theta;
        std::vector<std::vector<std::unique_ptr<DeviceBuffer>>> state(kParams.size());
        for (std::size_t i = 0; i < kParams.size(); ++i) {
          theta.push_back(std::make_unique<DeviceBuffer>(run.start()[i].size()));
          theta.back()->upload(run.start()[i].data());
          gpu.add(kParams[i].first, dtype, kParams[i].second, theta.back()->get());
        }
        const zo::Direction on_gpu(run.direction().options(), gpu);
        for (std::int64_t step = 0; step < 3; ++step) {
          auto [estimate, rows] = run.step(step);
          for (zo::ParamUpdate& row : rows) {
            auto& s = state[row.param];
            if (s.empty()) {
              const std::vector<float> zeros(std::size_t(gpu.param(row.param).numel), 0.0f);
              for (std::size_t k = 0; k < slots; ++k) {
                s.push_back(std::make_unique<DeviceBuffer>(zeros.size() * sizeof(float)));
                s.back()->upload(zeros.data());
              }
            }
            for (std::size_t k = 0; k < slots; ++k) row.state[k] = static_cast<float*>(s[k]->get());
          }
          zo::cuda::update(gpu, on_gpu, estimate, options, rows);
        }
        const std::string where = label + ", " + describe(kind) + ", " + std::string(zo::to_string(dtype));
        const zo::StateDict sd = run.state_dict();
        for (std::size_t i = 0; i < kParams.size(); ++i) {
          std::vector<std::uint8_t> got(run.start()[i].size());
          theta[i]->download(got.data());
          ASSERT_TRUE(got == run.cpu_bytes(i)) << where << ", param " << kParams[i].first;
          for (std::size_t k = 0; k < state[i].size(); ++k) {
            std::vector<float> values(std::size_t(gpu.param(i).numel));
            state[i][k]->download(values.data());
            const std::string key = kParams[i].first + "/" + zo::state_slots(options)[k];
            ASSERT_TRUE(sd.tensors.at(key) == values) << where << ", state " << key;
          }
        }
      }
    }
  }
}

TEST(CudaErrors, DeviceBackendWithoutADeviceSaysSo) {
  if (zo::cuda::device_count() != 0) GTEST_SKIP() << "a CUDA device is visible: this checks the message without one";
  const zo::cuda::DeviceBackend backend;
  EXPECT_NE(error_of([&] { (void)backend.allocate_floats(4); }).find("no CUDA device is visible"), std::string::npos);
}

TEST(CudaDeviceBackend, TrainsAsTheCpuDoesForEveryRuleKindAndStorageType) {
  SKIP_WITHOUT_DEVICE();
  const zo::Estimator estimator(zo::EstimatorOptions{.eps = 1e-3, .queries = 2});
  const zo::cuda::DeviceBackend backend;
  for (const auto& [label, options] : rule_cases()) {
    for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
      for (const zo::DirectionOptions& kind : all_kinds()) {
        zo::DirectionOptions o = kind;
        o.order = zo::BlockOrder::cyclic;
        o.blocks_per_step = 2;
        DeviceParams d(dtype);
        d.gpu.set_backend(&backend);
        const zo::Direction on_cpu(o, d.cpu), on_gpu(o, d.gpu);
        const auto cpu_optimizer = zo::Optimizer::create(options);
        const auto gpu_optimizer = zo::Optimizer::create(options);
        const auto host_loss = [&] { return zo_cuda_test::quadratic_loss(d.cpu); };
        const auto gpu_loss = [&] {
          std::vector<std::vector<std::uint8_t>> bytes;
          zo::ParamSet copy;
          for (std::size_t k = 0; k < d.host.size(); ++k) {
            bytes.push_back(d.downloaded(k));
            const zo::Param& p = d.gpu.param(k);
            copy.add(p.name, p.dtype, p.shape, bytes.back().data());
          }
          return zo_cuda_test::quadratic_loss(copy);
        };
        for (std::int64_t step = 0; step < 3; ++step) {
          const zo::Estimate a = estimator.estimate(host_loss, d.cpu, on_cpu, 5, step, zo::Restore::in_update);
          cpu_optimizer->step(d.cpu, on_cpu, a, options.lr);
          const zo::Estimate b = estimator.estimate(gpu_loss, d.gpu, on_gpu, 5, step, zo::Restore::in_update);
          gpu_optimizer->step(d.gpu, on_gpu, b, options.lr);
        }
        const std::string where = label + ", " + describe(kind) + ", " + std::string(zo::to_string(dtype));
        for (std::size_t k = 0; k < d.host.size(); ++k) {
          ASSERT_TRUE(d.downloaded(k) == d.host[k]) << where << ", param " << kParams[k].first;
        }
        ASSERT_TRUE(gpu_optimizer->state_dict().tensors == cpu_optimizer->state_dict().tensors) << where;
      }
    }
  }
}

}  // namespace
