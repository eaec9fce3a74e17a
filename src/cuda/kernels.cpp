// Host side of the CUDA passes: checks the request, turns (direction, draw, param) into launch jobs
// (launch.hpp), makes the low-rank factors in device memory, and reports CUDA's errors as zo::Error.
// The checks and the queuing of a job are shared with the update pass (host.hpp).
#include "zo/cuda/kernels.hpp"

#include "host.hpp"
#include "launch.hpp"
#include "zo/util/error.hpp"

#include <cmath>
#include <string_view>
#include <vector>

namespace zo::cuda::detail {

void check(cudaError_t e, std::string_view what) {
  if (e != cudaSuccess) fail("zo::cuda: {}: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

void require_device() {
  if (device_count() == 0) {
    fail("zo::cuda: no CUDA device is visible to this process (cudaGetDeviceCount found none): the CUDA passes "
         "need a GPU; use the CPU passes (zo/core/kernels.hpp) for host memory");
  }
}

void require_device_memory(const void* data, std::string_view what) {
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, data);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    fail("{}: cudaPointerGetAttributes failed on its data ({}): not CUDA memory", what, cudaGetErrorString(e));
  }
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged) {
    fail("{}: its data is host memory, not CUDA device memory: use the CPU passes for CPU tensors", what);
  }
}

// Queues the job; for a low-rank param, first its factors, in device memory freed in stream order.
void run(const Param& p, Job j, cudaStream_t stream) {
  if (j.rank == 0) {
    check(launch(j, stream), fmt::format("launching the pass over param '{}'", p.name));
    return;
  }
  void* u = nullptr;
  void* v = nullptr;
  check(cudaMallocAsync(&u, std::size_t(j.rows * j.rank) * sizeof(float), stream), "allocating low-rank factor U");
  const cudaError_t ev = cudaMallocAsync(&v, std::size_t(j.cols * j.rank) * sizeof(float), stream);
  if (ev != cudaSuccess) {
    (void)cudaFreeAsync(u, stream);
    check(ev, "allocating low-rank factor V");
  }
  cudaError_t e = launch_factors(j.seed, j.key, j.rademacher, j.factor, j.rows, j.cols, j.rank,
                                 static_cast<float*>(u), static_cast<float*>(v), stream);
  if (e == cudaSuccess) {
    j.u = static_cast<const float*>(u);
    j.v = static_cast<const float*>(v);
    e = launch(j, stream);
  }
  (void)cudaFreeAsync(u, stream);
  (void)cudaFreeAsync(v, stream);
  check(e, fmt::format("launching the low-rank pass over param '{}'", p.name));
}

void fill_on(const Direction& direction, const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n,
             float* out, cudaStream_t stream) {
  Job j = job_for(direction, p, draw);
  j.out = out;
  j.begin = begin;
  j.end = begin + n;
  if (j.sparse) check(cudaMemsetAsync(out, 0, std::size_t(n) * sizeof(float), stream), "zeroing a sparse fill");
  run(p, j, stream);
}

Job job_for(const Direction& direction, const Param& p, const Draw& draw) {
  const DirectionOptions& o = direction.options();
  Job j;
  j.numel = p.numel;
  j.end = p.numel;
  j.seed = draw.seed;
  j.key = p.key;
  j.rademacher = o.distribution == Distribution::rademacher;
  j.scale = draw.scale;
  if (o.kind == DirectionKind::sparse) {
    j.sparse = true;
    // random.hpp's gap scale c = float(1 / (−2 ln(1 − p))), 0 for p = 1 (every position kept).
    j.gap_c = o.keep == 1.0 ? 0.0f : float(1.0 / (-2.0 * std::log1p(-o.keep)));
    j.granule = o.granule;
    j.kept_scale = float(double(draw.scale) / std::sqrt(o.keep));
  }
  if (o.kind == DirectionKind::low_rank && p.shape.size() == 2) {  // other shapes move densely
    j.rank = o.rank;
    j.rows = p.shape[0];
    j.cols = p.shape[1];
    j.factor = float(double(draw.scale) / std::sqrt(double(o.rank)));  // as the CPU's make_low_rank
  }
  return j;
}

}  // namespace zo::cuda::detail

namespace zo::cuda {

using detail::check;
using detail::require_device;

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear it: no driver or no device is an answer, not an error
    return 0;
  }
  return n;
}

void fill(const Direction& direction, const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n, float* out,
          void* stream) {
  if (begin < 0 || n < 0 || begin > p.numel - n) {
    fail("zo::cuda::fill: elements [{}, {}) of param '{}': outside its {} elements", begin, begin + n, p.name, p.numel);
  }
  if (n == 0) return;
  if (out == nullptr) fail("zo::cuda::fill: out is null for {} elements of param '{}'", n, p.name);
  require_device();
  detail::fill_on(direction, p, draw, begin, n, out, static_cast<cudaStream_t>(stream));
}

void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks, const Draw& draw,
             float alpha, void* stream) {
  std::vector<bool> seen(params.blocks().size(), false);
  std::vector<std::size_t> moving;
  for (const std::uint32_t b : blocks) {
    if (b >= params.blocks().size()) {
      fail("block index {}: out of range (the ParamSet has {} blocks)", b, params.blocks().size());
    }
    if (seen[b]) fail("block index {}: listed twice; each moving block must appear once", b);
    seen[b] = true;
    for (const std::size_t i : params.blocks()[b].params) moving.push_back(i);
  }
  if (moving.empty()) return;
  require_device();
  for (const std::size_t i : moving) {
    detail::require_device_memory(params.param(i).data, fmt::format("param '{}'", params.param(i).name));
  }
  const auto s = static_cast<cudaStream_t>(stream);
  for (const std::size_t i : moving) {
    const Param& p = params.param(i);
    detail::Job j = detail::job_for(direction, p, draw);
    j.theta = p.data;
    j.dtype = p.dtype;
    j.alpha = alpha;
    detail::run(p, j, s);
  }
}

}  // namespace zo::cuda
