// Internal: the per-element part of an update rule. optimizer.cpp owns everything rules share
// (validation, lazy state, param groups, state_dict, the fused pass); a rule sees one chunk of one
// param and reads line by line against its paper equation (optimizer.hpp lists them).
#pragma once

#include "zo/core/kernels.hpp"
#include "zo/optim/optimizer.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace zo::rules {

// One chunk of one param, as a rule sees it. `g` is already ĝ + λθ: the probes' Σ_k c_k z_k with
// c_k = ρ_k / q (or sign(ρ_k) / q for zo-sgd-sign), plus coupled (L2) weight decay, computed in
// the chunk before the rule runs.
struct Chunk {
  float* theta = nullptr;          // θ[0..n), updated in place
  const float* g = nullptr;        // ĝ + λθ, [0..n)
  std::int64_t n = 0;
  float* state[3] = {};            // the rule's slots (see Rule::slots), [0..n) of this chunk
  float lr = 0.0f;                 // η · schedule · group lr_scale
  float bias1 = 1.0f;              // 1 − β₁ᵗ when bias_correction, else 1 (t: this param's updates)
  float bias2 = 1.0f;              // 1 − β₂ᵗ when bias_correction, else 1
  const OptimizerOptions* options = nullptr;
};

struct Rule {
  OptimizerKind kind;
  // Names of the float32 state tensors, one value per element of θ ("m", "v", …); may be empty.
  std::vector<std::string> (*slots)(const OptimizerOptions&);
  // True when c_k = sign(ρ_k) / q instead of ρ_k / q (zo-sgd-sign).
  bool sign_of_rho;
  void (*apply)(const Chunk&);
};

// The adaptive denominators of a chunk: den[i] = √fma(s, v[i], ζ), or √(s·v[i]) + ζ when
// kZetaOutsideRoot (the R-AdaZO authors' code); s is 1/(1 − β₂ᵗ) or 1. A separate pass because
// GCC does not vectorise std::sqrt under its default -fmath-errno; the AVX path computes the same
// correctly rounded square roots 8 at a time, so both paths give identical bits.
//
// The rules' products and sums are written as the fmas they are: these sources compile without
// contraction (CMakeLists.txt), so that the CUDA update (src/cuda/update_passes.hpp) can do the same
// operations. The fmas are where GCC's default contraction had put them, so the rules' bits did not
// change when it was turned off (tests/apps/golden_runs_test.cpp holds recorded runs to them).
template <bool kZetaOutsideRoot>
inline void denominators(const float* __restrict v, float s, float zeta, std::int64_t n, float* __restrict den) {
  std::int64_t i = 0;
#if defined(__AVX__) && defined(__FMA__)
  const __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(zeta);
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(v + i);
    const __m256 d = kZetaOutsideRoot ? _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(x, vs)), vz)
                                      : _mm256_sqrt_ps(_mm256_fmadd_ps(x, vs, vz));
    _mm256_storeu_ps(den + i, d);
  }
#endif
  for (; i < n; ++i) den[i] = kZetaOutsideRoot ? std::sqrt(s * v[i]) + zeta : std::sqrt(std::fma(s, v[i], zeta));
}

const Rule& zo_sgd();
const Rule& zo_sign_sgd();
const Rule& zo_sgd_sign();
const Rule& zo_rmsprop();
const Rule& zo_adamm();
const Rule& r_adazo();

}  // namespace zo::rules
