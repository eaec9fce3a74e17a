// ZO-RMSProp:  v = β₂ v + (1 − β₂) ĝ²;  θ −= η ĝ / √(ṽ + ζ),  ṽ = v / (1 − β₂ᵗ) with
// bias_correction, else v. (√ṽ + ζ with zeta_outside_root.)
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions&) { return {"v"}; }

template <bool kZetaOutsideRoot>
void update(const Chunk& c) {
  const float lr = c.lr;
  const float beta2 = float(c.options->beta2);
  const float zeta = float(c.options->zeta);
  const float inv_bias2 = 1.0f / c.bias2;
  float* __restrict theta = c.theta;
  const float* __restrict g = c.g;
  float* __restrict v = c.state[0];
  float den[kChunk];
  for (std::int64_t i = 0; i < c.n; ++i) v[i] = std::fma(beta2, v[i], (1.0f - beta2) * g[i] * g[i]);
  denominators<kZetaOutsideRoot>(v, inv_bias2, zeta, c.n, den);
  for (std::int64_t i = 0; i < c.n; ++i) theta[i] -= lr * g[i] / den[i];
}

void apply(const Chunk& c) { c.options->zeta_outside_root ? update<true>(c) : update<false>(c); }

}  // namespace

const Rule& zo_rmsprop() {
  static const Rule rule{OptimizerKind::zo_rmsprop, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
