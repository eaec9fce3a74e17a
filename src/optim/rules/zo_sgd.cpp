// ZO-SGD (MeZO, Malladi et al. 2023, with torch.optim.SGD's momentum):
//   μ = 0:  θ −= η (ĝ + λθ)
//   μ > 0:  b = μ b + (ĝ + λθ);  θ −= η b
#include "rule.hpp"

namespace zo::rules {
namespace {

std::vector<std::string> slots(const OptimizerOptions& o) {
  if (o.momentum > 0.0) return {"momentum"};
  return {};
}

void apply(const Chunk& c) {
  const float lr = c.lr;
  if (c.options->momentum > 0.0) {
    const float mu = float(c.options->momentum);
    float* b = c.state[0];
    for (std::int64_t i = 0; i < c.n; ++i) {
      b[i] = std::fma(mu, b[i], c.g[i]);
      c.theta[i] = std::fma(-lr, b[i], c.theta[i]);
    }
  } else {
    for (std::int64_t i = 0; i < c.n; ++i) c.theta[i] = std::fma(-lr, c.g[i], c.theta[i]);
  }
}

}  // namespace

const Rule& zo_sgd() {
  static const Rule rule{OptimizerKind::zo_sgd, &slots, false, &apply};
  return rule;
}

}  // namespace zo::rules
