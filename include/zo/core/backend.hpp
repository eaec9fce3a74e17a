// Where a ParamSet's data lives, when not in host memory, and the passes that run there.
//
// A ParamSet without a backend (the default) is host memory: zo::perturb and the optimizers' fused
// update run on the CPU. One with a backend (ParamSet::set_backend) holds pointers into that backend's
// memory, e.g. CUDA device memory (zo::cuda::backend(), docs/cuda.md): zo::perturb hands the pass to
// the backend, and the optimizers keep their state in its memory and update through it
// (zo/optim/update_backend.hpp). Every caller of zo::perturb (the estimators, finish_restore, replay)
// then runs where the data is, unchanged.
#pragma once

#include "zo/core/direction.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace zo {

class ParamSet;

class Backend {
 public:
  virtual ~Backend() = default;
  // A short name for messages, e.g. "cuda".
  virtual std::string_view name() const = 0;
  // zo::perturb's pass (kernels.hpp) over data in this backend's memory, with the same bits in θ.
  virtual void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks,
                       const Draw& draw, float alpha) const = 0;
  // numel float32 zeros in this backend's memory (optimizer state); freed by release_floats.
  virtual float* allocate_floats(std::int64_t numel) const = 0;
  virtual void release_floats(float* data) const noexcept = 0;
  // Copies numel floats between this backend's memory and host memory (finished when they return).
  virtual void download_floats(const float* data, std::int64_t numel, float* host) const = 0;
  virtual void upload_floats(const float* host, std::int64_t numel, float* data) const = 0;
};

}  // namespace zo
