// Internal: the kernel launches of the CUDA backend. kernels.cpp turns a Direction, a Draw and a
// ParamSet into jobs (job.hpp), update.cpp an Estimate into update jobs (update_job.hpp); both check
// every result.
#pragma once

#include "job.hpp"
#include "update_job.hpp"

#include <cstdint>

#include <cuda_runtime.h>

namespace zo::cuda::detail {

// Queues the job on `stream`; returns the launch's error (cudaSuccess when queued).
cudaError_t launch(const Job& job, cudaStream_t stream);

// The low-rank factors of a (rows × cols) param for the draw: u[i·rank + k] = value(low_rank_u,
// i·rank + k) · factor, v[j·rank + k] = value(low_rank_v, j·rank + k), values Gaussian or Rademacher.
cudaError_t launch_factors(std::uint64_t seed, std::uint32_t key, bool rademacher, float factor, std::int64_t rows,
                           std::int64_t cols, int rank, float* u, float* v, cudaStream_t stream);

// Queues the update pass of the job: z drawn in the pass (z_scratch null) or read from z_scratch.
cudaError_t launch_update(const UpdateJob& job, cudaStream_t stream);

}  // namespace zo::cuda::detail
