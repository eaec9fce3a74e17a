// ZO-SGD-Sign (ZO-Bench, Zhang et al. 2024): the sign is taken of each probe's scalar ρ_k, not of
// ĝ's elements:  θ −= η ((1/q) Σ_k sign(ρ_k) z_k + λθ).
// optimizer.cpp builds g with c_k = sign(ρ_k)/q (Rule::sign_of_rho), so the rule is a plain step.
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions&) { return {}; }

void apply(const Chunk& c) {
  const float lr = c.lr;
  for (std::int64_t i = 0; i < c.n; ++i) c.theta[i] = std::fma(-lr, c.g[i], c.theta[i]);
}

}  // namespace

const Rule& zo_sgd_sign() {
  static const Rule rule{OptimizerKind::zo_sgd_sign, &slots, true, &apply};
  return rule;
}

}  // namespace zo::rules
