// The CUDA passes against the device's copy bandwidth: one param of --elements elements (default 2^28)
// in device memory, stored as float32, float16 or bfloat16; the time of zo::cuda::perturb (θ += α·z,
// dense Gaussian and Rademacher z) and of zo::cuda::update (the restore fused into a zo-sgd update,
// one probe), each against cudaMemcpyAsync of the same bytes within device memory (a pass reads and
// writes θ once, as the copy reads and writes it). Each time is the median of --repeats runs after
// two warm-ups, by CUDA events on one stream. Writes CSV
// `pass,dtype,distribution,elements,ms,copy_ms,fraction_of_copy` (bench/results/gpu/pass_bandwidth.csv
// by default) and prints the table. Exits 77 (skipped) when no CUDA device is visible.
//
//   build/bench/cuda_pass_bandwidth [--elements=268435456] [--repeats=20] [--csv=PATH]
#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/cuda/kernels.hpp"
#include "zo/cuda/update.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/util/error.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) zo::fail("{}: {}", what, cudaGetErrorString(e));
}

// Median milliseconds of `repeats` runs of f (after two warm-ups), timed by events on `stream`.
double median_ms(const std::function<void()>& f, int repeats, cudaStream_t stream) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < 2; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    f();
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float t = 0.0f;
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime");
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  std::int64_t elements = std::int64_t(1) << 28;
  int repeats = 20;
  std::string csv = std::string(ZO_SOURCE_DIR) + "/bench/results/gpu/pass_bandwidth.csv";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--elements=", 0) == 0) {
      elements = std::stoll(arg.substr(11));
    } else if (arg.rfind("--repeats=", 0) == 0) {
      repeats = std::stoi(arg.substr(10));
    } else if (arg.rfind("--csv=", 0) == 0) {
      csv = arg.substr(6);
    } else {
      zo::fail("unknown argument '{}' (known: --elements=N, --repeats=N, --csv=PATH)", arg);
    }
  }
  if (elements < 1) zo::fail("--elements={}: must be at least 1", elements);
  if (repeats < 1) zo::fail("--repeats={}: must be at least 1", repeats);
  if (zo::cuda::device_count() == 0) {
    std::fprintf(stderr, "cuda_pass_bandwidth: no CUDA device visible; skipped\n");
    return 77;
  }
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  struct Row {
    std::string pass, dtype, distribution;
    double ms, copy_ms;
  };
  std::vector<Row> rows;
  for (const zo::DType dtype : {zo::DType::f32, zo::DType::f16, zo::DType::bf16}) {
    const std::size_t bytes = std::size_t(elements) * zo::size_of(dtype);
    void* theta = nullptr;
    void* copy = nullptr;
    check(cudaMalloc(&theta, bytes), "cudaMalloc θ");
    check(cudaMalloc(&copy, bytes), "cudaMalloc copy");
    check(cudaMemset(theta, 0, bytes), "cudaMemset");
    const double copy_ms = median_ms(
        [&] { check(cudaMemcpyAsync(copy, theta, bytes, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync"); },
        repeats, stream);
    zo::ParamSet set;
    set.add("theta", dtype, {elements}, theta);
    const std::vector<std::uint32_t> blocks = {0};
    for (const zo::Distribution dist : {zo::Distribution::gaussian, zo::Distribution::rademacher}) {
      zo::DirectionOptions o;
      o.distribution = dist;
      const zo::Direction direction(o, set);
      const zo::Draw draw{.seed = 42};
      const double perturb_ms =
          median_ms([&] { zo::cuda::perturb(set, direction, blocks, draw, 0.0f, stream); }, repeats, stream);
      rows.push_back({"perturb", std::string(zo::to_string(dtype)), std::string(zo::to_string(dist)), perturb_ms, copy_ms});
      zo::OptimizerOptions sgd;  // zo-sgd at lr 0: θ keeps its values, the pass does all its work
      zo::Estimate e;
      e.blocks = blocks;
      e.probes = {zo::Probe{draw, 0.0}};
      e.restore = zo::PendingRestore{0, 0.0f};
      zo::ParamUpdate row;
      row.lr = 0.0f;
      const std::vector<zo::ParamUpdate> moving = {row};
      const double update_ms =
          median_ms([&] { zo::cuda::update(set, direction, e, sgd, moving, stream); }, repeats, stream);
      rows.push_back({"restore+update zo-sgd", std::string(zo::to_string(dtype)), std::string(zo::to_string(dist)),
                      update_ms, copy_ms});
    }
    check(cudaFree(theta), "cudaFree");
    check(cudaFree(copy), "cudaFree");
  }
  std::filesystem::create_directories(std::filesystem::path(csv).parent_path());
  std::ofstream out(csv);
  if (!out) zo::fail("{}: cannot write", csv);
  out << "pass,dtype,distribution,elements,ms,copy_ms,fraction_of_copy\n";
  std::printf("%-22s %-5s %-11s %12s %9s %9s %8s\n", "pass", "dtype", "z", "elements", "ms", "copy ms", "of copy");
  for (const Row& r : rows) {
    const double fraction = r.copy_ms / r.ms;
    out << r.pass << ',' << r.dtype << ',' << r.distribution << ',' << elements << ',' << r.ms << ',' << r.copy_ms << ','
        << fraction << '\n';
    std::printf("%-22s %-5s %-11s %12lld %9.3f %9.3f %7.1f%%\n", r.pass.c_str(), r.dtype.c_str(), r.distribution.c_str(),
                static_cast<long long>(elements), r.ms, r.copy_ms, 100.0 * fraction);
  }
  std::printf("wrote %s\n", csv.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cuda_pass_bandwidth: %s\n", e.what());
  return 1;
}
