// R-AdaZO (Shu et al., ICML 2025, arXiv 2502.01014), the paper's update:
//   m_t = β₁ m_{t−1} + (1 − β₁) ĝ_t
//   v_t = β₂ v_{t−1} + (1 − β₂) m_t²        the refinement: the second moment is built from the
//                                           variance-reduced m_t, not from ĝ_t²
//   θ_t = θ_{t−1} − η m_t / √(v_t + ζ)
// zeta_outside_root gives √v_t + ζ (the authors' code); bias_correction divides m_t by (1 − β₁ᵗ)
// and v_t by (1 − β₂ᵗ) (v_t itself is built from the uncorrected m_t). Both off by default.
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions&) { return {"m", "v"}; }

template <bool kZetaOutsideRoot>
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
  float den[kChunk];
  for (std::int64_t i = 0; i < c.n; ++i) {
    m[i] = std::fma(beta1, m[i], (1.0f - beta1) * g[i]);
    v[i] = std::fma(beta2, v[i], (1.0f - beta2) * m[i] * m[i]);
  }
  denominators<kZetaOutsideRoot>(v, inv_bias2, zeta, c.n, den);
  for (std::int64_t i = 0; i < c.n; ++i) theta[i] -= lr * (m[i] * inv_bias1) / den[i];
}

void apply(const Chunk& c) { c.options->zeta_outside_root ? update<true>(c) : update<false>(c); }

}  // namespace

const Rule& r_adazo() {
  static const Rule rule{OptimizerKind::r_adazo, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
