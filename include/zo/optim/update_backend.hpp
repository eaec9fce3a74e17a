// A backend (zo/core/backend.hpp) that also runs the optimizers' update pass where the data is. An
// optimizer stepping a ParamSet whose backend is an UpdateBackend keeps its state in that backend's
// memory (allocate_floats) and hands each step's update to update(), with one ParamUpdate row per
// moving param: what the CPU pass computes from its param groups and step counts. zo::cuda::backend()
// is one (docs/cuda.md).
#pragma once

#include "zo/core/backend.hpp"
#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"

#include <cstddef>
#include <span>

namespace zo {

// One moving param's share of an update.
struct ParamUpdate {
  std::size_t param = 0;      // index in params.params()
  float lr = 0.0f;            // η · schedule · group lr_scale
  float weight_decay = 0.0f;  // λ for this param (0 for names matching no_decay_pattern)
  float bias1 = 1.0f;         // 1 − β₁ᵗ when bias_correction (t: this param's updates), else 1
  float bias2 = 1.0f;         // 1 − β₂ᵗ when bias_correction, else 1
  // The rule's state in the backend's memory, numel floats each, in the order of state_slots(options).
  float* state[3] = {};
};

class UpdateBackend : public Backend {
 public:
  // Optimizer::step's pass for `estimate`: its pending restore, ĝ = Σ_k c_k z_k with the CPU's
  // c_k = float(ρ_k / q) (float(sign(ρ_k) / q) for zo-sgd-sign), weight decay and the rule of
  // `options`, over every param of estimate.blocks, with the same bits in θ and state as the CPU's.
  virtual void update(ParamSet& params, const Direction& direction, const Estimate& estimate,
                      const OptimizerOptions& options, std::span<const ParamUpdate> moving) const = 0;
};

}  // namespace zo
