// The CUDA kernels: each thread runs one thread's work of passes.hpp (a Philox counter of a dense
// pass, a sparse span, or a low-rank element) or of update_passes.hpp. Compiled with -fmad=false.
#include "launch.hpp"

#include "passes.hpp"
#include "update_passes.hpp"

namespace zo::cuda::detail {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ std::int64_t thread_index() {
  return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}

template <int Mode>
__global__ void dense_kernel(Job j, std::int64_t threads) {
  const std::int64_t t = thread_index();
  if (t < threads) dense_thread<Mode>(j, t);
}

template <int Mode>
__global__ void sparse_kernel(Job j, std::int64_t threads) {
  const std::int64_t t = thread_index();
  if (t < threads) sparse_thread<Mode>(j, t);
}

template <int Mode>
__global__ void low_rank_kernel(Job j, std::int64_t threads) {
  const std::int64_t t = thread_index();
  if (t < threads) low_rank_thread<Mode>(j, t);
}

__global__ void factors_kernel(std::uint64_t seed, std::uint32_t key, bool rademacher, float factor,
                               std::int64_t u_count, std::int64_t threads, float* u, float* v) {
  const std::int64_t t = thread_index();
  if (t < threads) factor_thread(seed, key, rademacher, factor, u_count, u, v, t);
}

template <int Mode>
__global__ void update_drawn_kernel(UpdateJob j, std::int64_t threads) {
  const std::int64_t t = thread_index();
  if (t < threads) update_drawn_thread<Mode>(j, t);
}

template <int Mode>
__global__ void update_scratch_kernel(UpdateJob j, std::int64_t threads) {
  const std::int64_t t = thread_index();
  if (t < threads) update_scratch_thread<Mode>(j, t);
}

unsigned blocks_for(std::int64_t threads) { return unsigned((threads + kThreads - 1) / kThreads); }

template <int Mode>
void launch_mode(const Job& j, cudaStream_t stream) {
  if (j.rank > 0) {
    const std::int64_t n = low_rank_threads(j);
    low_rank_kernel<Mode><<<blocks_for(n), kThreads, 0, stream>>>(j, n);
  } else if (j.sparse) {
    const std::int64_t n = sparse_threads(j);
    sparse_kernel<Mode><<<blocks_for(n), kThreads, 0, stream>>>(j, n);
  } else {
    const std::int64_t n = dense_threads(j);
    dense_kernel<Mode><<<blocks_for(n), kThreads, 0, stream>>>(j, n);
  }
}

template <int Mode>
void launch_update_mode(const UpdateJob& j, cudaStream_t stream) {
  if (j.z_scratch != nullptr) {
    const std::int64_t n = update_scratch_threads(j);
    update_scratch_kernel<Mode><<<blocks_for(n), kThreads, 0, stream>>>(j, n);
  } else {
    const std::int64_t n = update_drawn_threads(j);
    update_drawn_kernel<Mode><<<blocks_for(n), kThreads, 0, stream>>>(j, n);
  }
}

}  // namespace

cudaError_t launch_update(const UpdateJob& j, cudaStream_t stream) {
  if (j.end <= j.begin) return cudaSuccess;
  if (j.dtype == DType::f32) {
    launch_update_mode<int(DType::f32)>(j, stream);
  } else if (j.dtype == DType::f16) {
    launch_update_mode<int(DType::f16)>(j, stream);
  } else {
    launch_update_mode<int(DType::bf16)>(j, stream);
  }
  return cudaGetLastError();
}

cudaError_t launch(const Job& j, cudaStream_t stream) {
  if (j.end <= j.begin) return cudaSuccess;
  if (j.out != nullptr) {
    launch_mode<kFill>(j, stream);
  } else if (j.dtype == DType::f32) {
    launch_mode<int(DType::f32)>(j, stream);
  } else if (j.dtype == DType::f16) {
    launch_mode<int(DType::f16)>(j, stream);
  } else {
    launch_mode<int(DType::bf16)>(j, stream);
  }
  return cudaGetLastError();
}

cudaError_t launch_factors(std::uint64_t seed, std::uint32_t key, bool rademacher, float factor, std::int64_t rows,
                           std::int64_t cols, int rank, float* u, float* v, cudaStream_t stream) {
  const std::int64_t u_count = rows * rank;
  const std::int64_t threads = u_count + cols * rank;
  factors_kernel<<<blocks_for(threads), kThreads, 0, stream>>>(seed, key, rademacher, factor, u_count, threads, u, v);
  return cudaGetLastError();
}

}  // namespace zo::cuda::detail
