// Internal: what the host sides of the CUDA passes share (kernels.cpp, update.cpp): CUDA's errors as
// zo::Error, the checks made before anything is queued, and the queuing of a pass job.
#pragma once

#include "job.hpp"
#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"

#include <cstdint>
#include <string_view>

#include <cuda_runtime.h>

namespace zo::cuda::detail {

// Throws zo::Error "zo::cuda: <what>: <CUDA's message> (<error name>)" unless e is cudaSuccess.
void check(cudaError_t e, std::string_view what);
// Throws zo::Error when no CUDA device is visible.
void require_device();
// Throws zo::Error naming `what` when data is not device (or managed) memory.
void require_device_memory(const void* data, std::string_view what);
// Queues the job of param p; for a low-rank param, first its factors (in stream-ordered device memory).
void run(const Param& p, Job j, cudaStream_t stream);
// out[k] = z of p for the draw at element begin + k, k < n (Direction::fill), queued on `stream`.
void fill_on(const Direction& direction, const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n,
             float* out, cudaStream_t stream);

}  // namespace zo::cuda::detail
