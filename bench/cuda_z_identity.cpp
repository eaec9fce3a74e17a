// z on the GPU against the CPU's, element by element: for each family of directions, 10^7 elements
// of one param drawn by zo::cuda::fill and by Direction::fill, and the number of elements whose bits
// differ. Writes CSV `family,elements,mismatches` (bench/results/gpu/z_identity.csv by default) and
// prints the table. Exits 77 (skipped) when no CUDA device is visible.
//
//   build/bench/cuda_z_identity [--elements=10000000] [--csv=bench/results/gpu/z_identity.csv]
#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/cuda/kernels.hpp"
#include "zo/util/error.hpp"

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct Family {
  std::string name;
  zo::DirectionOptions options;
};

std::vector<Family> families() {
  std::vector<Family> out;
  const auto add = [&](std::string name, auto set) {
    zo::DirectionOptions o;
    set(o);
    out.push_back({std::move(name), o});
  };
  add("gaussian", [](zo::DirectionOptions&) {});
  add("rademacher", [](zo::DirectionOptions& o) { o.distribution = zo::Distribution::rademacher; });
  add("sphere", [](zo::DirectionOptions& o) { o.distribution = zo::Distribution::sphere; });
  add("sparse_keep0.1", [](zo::DirectionOptions& o) { o.kind = zo::DirectionKind::sparse; });
  add("sparse_keep0.1_granule16", [](zo::DirectionOptions& o) {
    o.kind = zo::DirectionKind::sparse;
    o.granule = 16;
  });
  add("sparse_rademacher_keep0.5", [](zo::DirectionOptions& o) {
    o.kind = zo::DirectionKind::sparse;
    o.distribution = zo::Distribution::rademacher;
    o.keep = 0.5;
  });
  add("low_rank_r4", [](zo::DirectionOptions& o) { o.kind = zo::DirectionKind::low_rank; });
  return out;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) zo::fail("{}: {}", what, cudaGetErrorString(e));
}

}  // namespace

int main(int argc, char** argv) try {
  std::int64_t elements = 10'000'000;
  std::string csv = std::string(ZO_SOURCE_DIR) + "/bench/results/gpu/z_identity.csv";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--elements=", 0) == 0) {
      elements = std::stoll(arg.substr(11));
    } else if (arg.rfind("--csv=", 0) == 0) {
      csv = arg.substr(6);
    } else {
      zo::fail("unknown argument '{}' (known: --elements=N, --csv=PATH)", arg);
    }
  }
  if (elements < 1) zo::fail("--elements={}: must be at least 1", elements);
  if (zo::cuda::device_count() == 0) {
    std::fprintf(stderr, "cuda_z_identity: no CUDA device visible; skipped\n");
    return 77;
  }
  // A (rows × 1000) param, so that low-rank directions apply; its data is never read.
  const std::int64_t cols = 1000;
  const std::int64_t rows = (elements + cols - 1) / cols;
  zo::ParamSet set;
  float unused = 0.0f;
  set.add("layers.0.fc1.weight", zo::DType::f32, {rows, cols}, &unused);
  const zo::Param& p = set.param(0);
  const std::int64_t n = p.numel;
  std::vector<float> cpu(static_cast<std::size_t>(n)), gpu(static_cast<std::size_t>(n));
  float* device = nullptr;
  check(cudaMalloc(&device, std::size_t(n) * sizeof(float)), "cudaMalloc");
  std::filesystem::path path(csv);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(csv);
  if (!out) zo::fail("cannot write '{}'", csv);
  out << "family,elements,mismatches\n";
  std::printf("%-28s %12s %12s\n", "family", "elements", "mismatches");
  const std::vector<std::uint32_t> blocks = {0};
  for (const Family& f : families()) {
    const zo::Direction direction(f.options, set);
    const zo::Draw draw = direction.draw(set, blocks, 0x5eed0fc0ffeeull);
    direction.fill(p, draw, 0, n, cpu.data());
    zo::cuda::fill(direction, p, draw, 0, n, device);
    check(cudaDeviceSynchronize(), "the fill");
    check(cudaMemcpy(gpu.data(), device, std::size_t(n) * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
    std::int64_t mismatches = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      mismatches += std::memcmp(&cpu[std::size_t(i)], &gpu[std::size_t(i)], sizeof(float)) != 0;
    }
    out << f.name << ',' << n << ',' << mismatches << '\n';
    std::printf("%-28s %12lld %12lld\n", f.name.c_str(), static_cast<long long>(n), static_cast<long long>(mismatches));
  }
  cudaFree(device);
  std::printf("wrote %s\n", csv.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cuda_z_identity: %s\n", e.what());
  return 1;
}
