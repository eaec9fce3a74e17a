// zo::minimize with every optimizer on every synthetic function of the tasks layer: each reduces the
// loss from the function's standard start.
#include "zo/optim/minimize.hpp"
#include "zo/tasks/synthetic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace zo {
namespace {

const std::vector<OptimizerKind> kKinds = {OptimizerKind::zo_sgd,     OptimizerKind::zo_sign_sgd,
                                           OptimizerKind::zo_sgd_sign, OptimizerKind::zo_rmsprop,
                                           OptimizerKind::zo_adamm,   OptimizerKind::r_adazo};
const std::vector<tasks::SyntheticFunction> kFunctions = {tasks::SyntheticFunction::quadratic, tasks::SyntheticFunction::rosenbrock,
                                                   tasks::SyntheticFunction::levy, tasks::SyntheticFunction::ackley};

// Learning rates for d = 16, from the middle of each rule's working range on a grid
// {1e-4, 3e-4, …, 1e-1} (not at its edge). Rosenbrock's curved valley is slow for every rule: it gets
// more steps and a weaker bar (loss × 0.95 instead of × 0.2).
double lr_for(OptimizerKind kind, tasks::SyntheticFunction f) {
  using K = OptimizerKind;
  switch (f) {
    case tasks::SyntheticFunction::quadratic:
      return kind == K::zo_sgd ? 1e-3 : kind == K::r_adazo ? 3e-3 : 1e-2;
    case tasks::SyntheticFunction::rosenbrock:
      return kind == K::zo_sgd ? 3e-4 : kind == K::r_adazo ? 1e-3 : 3e-3;
    case tasks::SyntheticFunction::levy:
      return kind == K::zo_sgd || kind == K::r_adazo ? 3e-3 : 1e-2;
    case tasks::SyntheticFunction::ackley:
      return kind == K::r_adazo ? 1e-3 : kind == K::zo_sign_sgd || kind == K::zo_sgd_sign ? 1e-2 : 3e-3;
  }
  return 1e-3;
}

struct Pair {
  OptimizerKind kind;
  tasks::SyntheticFunction function;
};

class EveryOptimizerOnEveryFunction : public ::testing::TestWithParam<Pair> {};

TEST_P(EveryOptimizerOnEveryFunction, ReducesTheLossFromTheStandardStart) {
  const auto [kind, function] = GetParam();
  tasks::Synthetic f(tasks::SyntheticOptions{.function = function, .dim = 16, .condition = 100.0});
  std::vector<float> x = f.x0();
  const bool rosenbrock = function == tasks::SyntheticFunction::rosenbrock;
  const std::int64_t steps = rosenbrock ? 1500 : 600;
  // Across seeds 10..15 the ratios stay below 0.07 (0.87 for Rosenbrock): the bars leave a margin.
  const double bar = rosenbrock ? 0.95 : 0.2;
  MinimizeOptions o;
  o.max_steps = steps;
  o.seed = 11;
  o.optimizer.kind = kind;
  o.optimizer.lr = lr_for(kind, function);
  const Summary s = minimize(f, x, o);
  EXPECT_EQ(s.termination, Termination::max_steps);
  EXPECT_EQ(s.steps, steps);
  EXPECT_EQ(s.evaluations, 2 + 2 * steps);
  EXPECT_EQ(f.calls(), s.evaluations);
  EXPECT_DOUBLE_EQ(s.initial_loss, f.value(f.x0()));
  EXPECT_DOUBLE_EQ(s.final_loss, f.value(x));
  EXPECT_LT(s.final_loss, bar * s.initial_loss) << s.report();
}

std::vector<Pair> pairs() {
  std::vector<Pair> out;
  for (auto k : kKinds)
    for (auto f : kFunctions) out.push_back({k, f});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Synthetic, EveryOptimizerOnEveryFunction, ::testing::ValuesIn(pairs()),
                         [](const auto& info) {
                           std::string s = std::string(to_string(info.param.kind)) + "_" +
                                           std::string(to_string(info.param.function));
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
}  // namespace zo
