// ZO-AdaMM (Chen et al., NeurIPS 2019), Adam on ĝ with AMSGrad's max:
//   m = β₁ m + (1 − β₁) ĝ
//   v = β₂ v + (1 − β₂) ĝ²
//   v̂ = max(v̂, v)                      (amsgrad = false: v̂ = v, and no "vhat" state)
//   θ −= η m̃ / √(ṽ + ζ)               m̃ = m / (1 − β₁ᵗ), ṽ = v̂ / (1 − β₂ᵗ) with bias_correction,
//                                      else m̃ = m, ṽ = v̂ (as torch.optim.Adam: the max is taken
//                                      on the uncorrected v). √ṽ + ζ with zeta_outside_root.
#include "rule.hpp"

#include <algorithm>

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions& o) {
  if (o.amsgrad) return {"m", "v", "vhat"};
  return {"m", "v"};
}

template <bool kAmsgrad, bool kZetaOutsideRoot>
void update(const Chunk& c) {
  const float lr = c.lr;
  const float beta1 = float(c.options->beta1);
  const float beta2 = float(c.options->beta2);
  const float zeta = float(c.options->zeta);
  const float inv_bias1 = 1.0f / c.bias1;
  const float inv_bias2 = 1.0f / c.bias2;
  float* __restrict theta = c.theta;
  const float* __restrict g = c.g;
  float* __restrict m = c.state[0];
  float* __restrict v = c.state[1];
  float* __restrict vhat = c.state[2];  // null without amsgrad
  float den[kChunk];
  for (std::int64_t i = 0; i < c.n; ++i) {
    m[i] = std::fma(beta1, m[i], (1.0f - beta1) * g[i]);
    v[i] = std::fma(beta2, v[i], (1.0f - beta2) * g[i] * g[i]);
  }
  if constexpr (kAmsgrad) {
    for (std::int64_t i = 0; i < c.n; ++i) vhat[i] = std::max(vhat[i], v[i]);
  }
  denominators<kZetaOutsideRoot>(kAmsgrad ? vhat : v, inv_bias2, zeta, c.n, den);
  for (std::int64_t i = 0; i < c.n; ++i) theta[i] -= lr * (m[i] * inv_bias1) / den[i];
}

void apply(const Chunk& c) {
  const bool outside = c.options->zeta_outside_root;
  if (c.options->amsgrad) {
    outside ? update<true, true>(c) : update<true, false>(c);
  } else {
    outside ? update<false, true>(c) : update<false, false>(c);
  }
}

}  // namespace

const Rule& zo_adamm() {
  static const Rule rule{OptimizerKind::zo_adamm, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
