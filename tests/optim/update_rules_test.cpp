// Every update rule against an independent hand computation in double: the test builds z itself
// from Direction::fill for the step's draws, applies the paper's formula (optimizer.hpp, docs/methods.md §4)
// to a double copy of θ, and compares with what the optimizer's fused pass wrote, over several steps.
#include "zo/optim/optimizer.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace zo {
namespace {

constexpr std::uint64_t kSeed = 1234;

// ρ per step and probe: magnitudes shrink then grow, so AMSGrad's max matters.
const std::vector<std::vector<double>> kRho = {{2.0, -1.5}, {0.3, 0.1}, {-0.05, 0.02}, {1.0, -0.4}, {-0.7, 0.25}};

struct Case {
  std::string label;
  OptimizerOptions options;
  DirectionOptions direction{};
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.label; }

struct RefState {
  std::int64_t t = 0;
  std::vector<double> b, m, v, vhat;
};

// One update of one param in double, straight from the formulas.
void reference_update(const OptimizerOptions& o, std::vector<double>& theta, const std::vector<double>& g,
                      RefState& s, double lr) {
  const std::size_t n = theta.size();
  if (s.m.empty()) s.b = s.m = s.v = s.vhat = std::vector<double>(n, 0.0);
  ++s.t;
  const double bc1 = o.bias_correction ? 1.0 - std::pow(o.beta1, double(s.t)) : 1.0;
  const double bc2 = o.bias_correction ? 1.0 - std::pow(o.beta2, double(s.t)) : 1.0;
  const auto denom = [&](double v) { return o.zeta_outside_root ? std::sqrt(v) + o.zeta : std::sqrt(v + o.zeta); };
  for (std::size_t i = 0; i < n; ++i) {
    switch (o.kind) {
      case OptimizerKind::zo_sgd:
        if (o.momentum > 0) {
          s.b[i] = o.momentum * s.b[i] + g[i];
          theta[i] -= lr * s.b[i];
        } else {
          theta[i] -= lr * g[i];
        }
        break;
      case OptimizerKind::zo_sign_sgd: theta[i] -= lr * ((g[i] > 0) - (g[i] < 0)); break;
      case OptimizerKind::zo_sgd_sign: theta[i] -= lr * g[i]; break;  // g built from sign(ρ_k)
      case OptimizerKind::zo_rmsprop:
        s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g[i] * g[i];
        theta[i] -= lr * g[i] / denom(s.v[i] / bc2);
        break;
      case OptimizerKind::zo_adamm:
        s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g[i];
        s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * g[i] * g[i];
        s.vhat[i] = o.amsgrad ? std::max(s.vhat[i], s.v[i]) : s.v[i];
        theta[i] -= lr * (s.m[i] / bc1) / denom(s.vhat[i] / bc2);
        break;
      case OptimizerKind::r_adazo:
        s.m[i] = o.beta1 * s.m[i] + (1 - o.beta1) * g[i];
        s.v[i] = o.beta2 * s.v[i] + (1 - o.beta2) * s.m[i] * s.m[i];
        theta[i] -= lr * (s.m[i] / bc1) / denom(s.v[i] / bc2);
        break;
    }
  }
}

class UpdateRule : public ::testing::TestWithParam<Case> {};

TEST_P(UpdateRule, MatchesTheFormulaInDoubleOverFiveSteps) {
  const Case& c = GetParam();
  std::vector<float> weight{0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 1.5f};  // "layer.weight" (2, 3)
  std::vector<float> bias{0.1f, -0.2f, 0.3f};                          // "layer.bias" (3)
  ParamSet params;
  params.add("layer.weight", DType::f32, {2, 3}, weight.data());
  params.add("layer.bias", DType::f32, {3}, bias.data());
  const Direction direction(c.direction, params);
  auto optimizer = Optimizer::create(c.options);
  const OptimizerOptions& o = c.options;

  std::map<std::string, std::vector<double>> theta{{"layer.weight", {weight.begin(), weight.end()}},
                                                   {"layer.bias", {bias.begin(), bias.end()}}};
  std::map<std::string, RefState> state;
  const double base_lr = o.lr;

  for (std::size_t step = 0; step < kRho.size(); ++step) {
    const double lr = base_lr * (1.0 - 0.1 * double(step));  // a schedule's value, passed through
    Estimate e;
    e.step = std::int64_t(step);
    e.blocks = direction.active_blocks(kSeed, e.step);
    for (std::size_t k = 0; k < kRho[step].size(); ++k) {
      const Draw draw = direction.draw(params, e.blocks, derive_seed(kSeed, step, std::uint32_t(k + 1)));
      e.probes.push_back({draw, kRho[step][k]});
    }
    const double q = double(e.probes.size());

    for (std::uint32_t b : e.blocks) {
      for (std::size_t pi : params.blocks()[b].params) {
        const Param& p = params.param(pi);
        auto& th = theta[p.name];
        // Param groups and no-decay, by hand: the bias matches "bias" in both.
        double lr_scale = 1.0, wd = o.weight_decay;
        const bool is_bias = p.name == "layer.bias";
        if (is_bias) wd = 0.0;
        if (is_bias && !o.groups.empty()) {
          lr_scale = o.groups[0].lr_scale;
          if (o.groups[0].weight_decay) wd = *o.groups[0].weight_decay;
        }
        std::vector<double> g(th.size(), 0.0);
        std::vector<float> z(th.size());
        for (const Probe& probe : e.probes) {
          direction.fill(p, probe.draw, 0, p.numel, z.data());
          const double coef = o.kind == OptimizerKind::zo_sgd_sign ? double((probe.rho > 0) - (probe.rho < 0)) : probe.rho;
          for (std::size_t i = 0; i < g.size(); ++i) g[i] += coef * double(z[i]) / q;
        }
        for (std::size_t i = 0; i < g.size(); ++i) g[i] += wd * th[i];
        reference_update(o, th, g, state[p.name], lr * lr_scale);
      }
    }
    optimizer->step(params, direction, e, lr);

    for (std::size_t i = 0; i < weight.size(); ++i)
      ASSERT_NEAR(weight[i], theta["layer.weight"][i], 2e-5 * (1 + std::abs(theta["layer.weight"][i])))
          << "step " << step << " weight[" << i << "]";
    for (std::size_t i = 0; i < bias.size(); ++i)
      ASSERT_NEAR(bias[i], theta["layer.bias"][i], 2e-5 * (1 + std::abs(theta["layer.bias"][i])))
          << "step " << step << " bias[" << i << "]";
  }

  // The state tensors hold the same moments, under "<param>/<slot>".
  const StateDict sd = optimizer->state_dict();
  EXPECT_EQ(sd.kind, to_string(o.kind));
  EXPECT_EQ(sd.scalars.at("t"), double(kRho.size()));
  for (const auto& [name, s] : state) {
    EXPECT_EQ(sd.scalars.at(name + "/t"), double(s.t)) << name;
    const auto check = [&](const std::string& slot, const std::vector<double>& expected) {
      const auto& got = sd.tensors.at(name + "/" + slot);
      ASSERT_EQ(got.size(), expected.size());
      for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], expected[i], 2e-5 * (1 + std::abs(expected[i]))) << name << "/" << slot << "[" << i << "]";
    };
    switch (o.kind) {
      case OptimizerKind::zo_sgd:
        if (o.momentum > 0) check("momentum", s.b);
        break;
      case OptimizerKind::zo_rmsprop: check("v", s.v); break;
      case OptimizerKind::zo_adamm:
        check("m", s.m);
        check("v", s.v);
        if (o.amsgrad) check("vhat", s.vhat);
        break;
      case OptimizerKind::r_adazo:
        check("m", s.m);
        check("v", s.v);
        break;
      default: break;
    }
  }
}

OptimizerOptions with(OptimizerKind kind, double lr) {
  return OptimizerOptions{.kind = kind, .lr = lr, .weight_decay = 0.1, .groups = {{.pattern = "bias", .lr_scale = 0.5}}};
}

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"mezo_zo_sgd", with(OptimizerKind::zo_sgd, 0.02)});
  auto momentum = with(OptimizerKind::zo_sgd, 0.02);
  momentum.momentum = 0.9;
  out.push_back({"zo_sgd_momentum", momentum});
  auto decay_override = with(OptimizerKind::zo_sgd, 0.02);
  decay_override.groups[0].weight_decay = 0.3;  // a group's weight_decay beats no_decay_pattern
  out.push_back({"zo_sgd_group_weight_decay", decay_override});
  out.push_back({"zo_sign_sgd", with(OptimizerKind::zo_sign_sgd, 0.01)});
  out.push_back({"zo_sgd_sign", with(OptimizerKind::zo_sgd_sign, 0.01)});
  out.push_back({"zo_rmsprop", with(OptimizerKind::zo_rmsprop, 0.01)});
  auto rms_bc = with(OptimizerKind::zo_rmsprop, 0.01);
  rms_bc.bias_correction = true;
  out.push_back({"zo_rmsprop_bias_correction", rms_bc});
  out.push_back({"zo_adamm_amsgrad", with(OptimizerKind::zo_adamm, 0.01)});
  auto adam = with(OptimizerKind::zo_adamm, 0.01);
  adam.amsgrad = false;
  out.push_back({"zo_adamm_no_amsgrad", adam});
  auto adam_bc = with(OptimizerKind::zo_adamm, 0.01);
  adam_bc.bias_correction = true;
  adam_bc.zeta_outside_root = true;
  out.push_back({"zo_adamm_bias_correction_zeta_outside", adam_bc});
  out.push_back({"r_adazo", with(OptimizerKind::r_adazo, 0.01)});
  auto authors = with(OptimizerKind::r_adazo, 0.01);
  authors.zeta_outside_root = true;
  authors.beta2 = 0.999;
  out.push_back({"r_adazo_zeta_outside_root", authors});
  // Block-coordinate: one param moves per step; per-param t drives the bias correction.
  auto bcd = with(OptimizerKind::r_adazo, 0.01);
  bcd.bias_correction = true;
  out.push_back({"r_adazo_block_cyclic_bias_correction", bcd, DirectionOptions{.order = BlockOrder::cyclic}});
  auto bcd_adam = with(OptimizerKind::zo_adamm, 0.01);
  out.push_back({"zo_adamm_block_permutation_rademacher", bcd_adam,
                 DirectionOptions{.distribution = Distribution::rademacher, .order = BlockOrder::permutation}});
  out.push_back({"zo_sgd_sparse", with(OptimizerKind::zo_sgd, 0.02),
                 DirectionOptions{.kind = DirectionKind::sparse, .keep = 0.5}});
  out.push_back({"r_adazo_sphere", with(OptimizerKind::r_adazo, 0.01),
                 DirectionOptions{.distribution = Distribution::sphere}});
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllRules, UpdateRule, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace zo
