// zo's passes on CUDA devices: the same z as the CPU (z_math.hpp, bit for bit) and the same
// in-place update of θ, for parameters whose data live in device memory. Every direction kind
// (dense Gaussian / Rademacher / sphere, sparse with any granule, low-rank) and block-coordinate
// selection; float32, float16 and bfloat16 parameters, math in float32.
//
// Built when CMake finds a CUDA compiler (ZO_CUDA, docs/cuda.md); the target is zo::cuda. Work is
// queued on `stream` (a cudaStream_t, e.g. torch.cuda.current_stream().cuda_stream; nullptr: the
// legacy default stream) and the functions return once it is queued. Errors found before queuing
// (a bad range or block, no device, a param not in device memory) throw zo::Error naming the value;
// launch errors throw zo::Error with CUDA's own message.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"

#include <cstdint>
#include <span>

namespace zo::cuda {

// CUDA devices this process sees: 0 without a driver or a device (never throws).
int device_count();

// out[k] = z of param p for the draw at element begin + k, k < n: Direction::fill on the device.
// `out` is device memory for n floats; p.data is not read (only its name's key, shape and numel).
void fill(const Direction& direction, const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n,
          float* out, void* stream = nullptr);

// θ += alpha · z(draw) on every coordinate of the moving `blocks`: zo::perturb (kernels.hpp) for a
// ParamSet whose params' data are device pointers, with the same bits in θ afterwards.
void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks, const Draw& draw,
             float alpha, void* stream = nullptr);

}  // namespace zo::cuda
