// ZO-RMSProp:  v = β₂ v + (1 − β₂) ĝ²;  θ −= η ĝ / √(v̂ + ζ),  v̂ = v / (1 − β₂ᵗ) with
// bias_correction, else v. (√v̂ + ζ with zeta_outside_root.)
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions&) { return {"v"}; }

void apply(const Chunk& c) {
  const float lr = c.lr;
  const float beta2 = float(c.options->beta2);
  const float zeta = float(c.options->zeta);
  const bool outside = c.options->zeta_outside_root;
  const float inv_bias2 = 1.0f / c.bias2;
  float* v = c.state[0];
  for (std::int64_t i = 0; i < c.n; ++i) {
    const float g = c.g[i];
    v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
    c.theta[i] -= lr * g * inverse_denominator(v[i] * inv_bias2, zeta, outside);
  }
}

}  // namespace

const Rule& zo_rmsprop() {
  static const Rule rule{OptimizerKind::zo_rmsprop, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
