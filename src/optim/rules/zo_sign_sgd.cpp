// ZO-signSGD (Liu et al., ICLR 2019), elementwise:  θ −= η sign(ĝ + λθ),  sign(0) = 0.
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions&) { return {}; }

void apply(const Chunk& c) {
  const float lr = c.lr;
  for (std::int64_t i = 0; i < c.n; ++i) {
    const float s = float(c.g[i] > 0.0f) - float(c.g[i] < 0.0f);
    c.theta[i] = std::fma(-lr, s, c.theta[i]);
  }
}

}  // namespace

const Rule& zo_sign_sgd() {
  static const Rule rule{OptimizerKind::zo_sign_sgd, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
