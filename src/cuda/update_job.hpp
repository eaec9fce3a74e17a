// Internal: one param's share of the CUDA update pass, as plain data (no CUDA headers), shared by the
// host side (update.cpp), the kernels (launch.cu) and the per-thread work (update_passes.hpp).
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/dtype.hpp"
#include "zo/core/params.hpp"
#include "zo/cuda/update.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"

#include <cstdint>
#include <span>

namespace zo::cuda::detail {

// The update rules as the pass distinguishes them (zo-sgd-sign is kSgd with sign(ρ) coefficients).
enum class RuleCode : int { sgd, sgd_momentum, sign_sgd, rmsprop, adamm, adamm_amsgrad, r_adazo };

// The per-element constants of the rule, in float as the CPU rules hold them.
struct RuleConstants {
  RuleCode code = RuleCode::sgd;
  float momentum = 0.0f;         // μ
  float beta1 = 0.0f;            // β₁ and the CPU's (1.0f − β₁)
  float one_minus_beta1 = 1.0f;
  float beta2 = 0.0f;            // β₂ and (1.0f − β₂)
  float one_minus_beta2 = 1.0f;
  float zeta = 0.0f;             // ζ
  bool zeta_outside_root = false;
};

struct UpdateJob {
  void* theta = nullptr;  // the param's first element, stored as `dtype`
  DType dtype = DType::f32;
  std::int64_t begin = 0;  // elements [begin, end) of the param
  std::int64_t end = 0;
  // z of each probe: drawn in the pass (dense directions: value stream (seed_k, key), Gaussian or
  // Rademacher, times scale_k when it is not 1), or read from z_scratch[k · stride + (i − begin)]
  // when z_scratch is set (sparse and low-rank directions, filled beforehand).
  int probes = 1;
  std::uint64_t seed[kMaxUpdateProbes] = {};
  float scale[kMaxUpdateProbes] = {};
  float coef[kMaxUpdateProbes] = {};  // c_k
  std::uint32_t key = 0;
  bool rademacher = false;
  const float* z_scratch = nullptr;
  std::int64_t stride = 0;
  int restore_probe = -1;  // θ += restore_alpha · z_{restore_probe} first; −1: none pending
  float restore_alpha = 0.0f;
  float lr = 0.0f;
  float weight_decay = 0.0f;
  float inv_bias1 = 1.0f;  // the CPU's 1.0f / bias1 and 1.0f / bias2
  float inv_bias2 = 1.0f;
  float* state[3] = {};    // the rule's slots, indexed by element
  RuleConstants rule{};
};

// The rule of `options` as the pass runs it.
RuleConstants rule_constants(const OptimizerOptions& options);

// Everything update() refuses that the host can see (all but device memory), checked before anything
// is queued; throws zo::Error naming the value.
void check_update(const ParamSet& params, const Estimate& estimate, const OptimizerOptions& options,
                  std::span<const ParamUpdate> moving);

// True when z of p is drawn inside the update pass (a dense direction, or a low-rank one over a param
// that is not 2-D); false when it is filled into a scratch first (sparse, low-rank).
bool drawn_in_pass(const Direction& direction, const Param& p);

// The update job of one moving param over all its elements, z drawn in the pass (z_scratch unset).
UpdateJob update_job_for(const Direction& direction, const OptimizerOptions& options, const Estimate& estimate,
                         const Param& p, const ParamUpdate& row);

}  // namespace zo::cuda::detail
