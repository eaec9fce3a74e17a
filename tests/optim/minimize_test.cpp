// zo::minimize: determinism, callbacks, stop criteria, NaN policy, every direction family, option errors.
// (Every optimizer on every synthetic function: tests/tasks/minimize_synthetic_test.cpp.)
#include "zo/optim/minimize.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace zo {
namespace {

double sphere(std::span<const float> x) {
  double s = 0.0;
  for (float v : x) s += double(v) * v;
  return s;
}

TEST(Minimize, TheSameSeedGivesTheSameTrajectory) {
  const auto run = [](std::uint64_t seed, std::vector<double>& losses) {
    std::vector<float> x(32, 1.0f);
    MinimizeOptions o{.max_steps = 50, .seed = seed, .direction = {.order = BlockOrder::uniform, .blocks_per_step = 1},
                      .estimator = {.queries = 3}, .optimizer = {.kind = OptimizerKind::r_adazo, .lr = 1e-2}};
    o.callbacks.push_back([&](const StepInfo& info) {
      losses.push_back(info.loss);
      return true;
    });
    minimize(sphere, x, o);
    return x;
  };
  std::vector<double> l1, l2, l3;
  const auto a = run(5, l1), b = run(5, l2), c = run(6, l3);
  EXPECT_EQ(a, b);
  EXPECT_EQ(l1, l2);
  EXPECT_NE(a, c);
  EXPECT_EQ(l1.size(), 50u);
}

TEST(Minimize, CallbacksSeeEveryStepAndCanStopTheRun) {
  std::vector<float> x(8, 1.0f);
  std::vector<StepInfo> seen;
  MinimizeOptions o{.max_steps = 100, .optimizer = {.lr = 1e-2}, .schedule = {.kind = ScheduleKind::linear}};
  o.callbacks.push_back([&](const StepInfo& info) {
    seen.push_back(info);
    return info.step < 7;
  });
  const Summary s = minimize(sphere, x, o);
  EXPECT_EQ(s.termination, Termination::callback);
  EXPECT_EQ(s.steps, 7);
  ASSERT_EQ(seen.size(), 7u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].step, std::int64_t(i + 1));
    EXPECT_EQ(seen[i].evaluations, 1 + 2 * std::int64_t(i + 1));
    EXPECT_DOUBLE_EQ(seen[i].lr, 1e-2 * lr_factor(o.schedule, std::int64_t(i), 100));
    EXPECT_FALSE(seen[i].skipped);
  }
  EXPECT_NE(s.message.find("callbacks[0]"), std::string::npos);
  EXPECT_NE(s.report().find("callback"), std::string::npos);
}

TEST(Minimize, MaxEvaluationsIsNeverExceeded) {
  for (const EstimatorOptions& e : {EstimatorOptions{.queries = 1}, EstimatorOptions{.queries = 2},
                                   EstimatorOptions{.queries = 3, .difference = Difference::forward}}) {
    const std::int64_t per_step = e.difference == Difference::central ? 2 * e.queries : e.queries + 1;
    for (std::int64_t limit : {2 + per_step, 2 + per_step + 1, std::int64_t(37), std::int64_t(100)}) {
      std::vector<float> x(4, 1.0f);
      std::int64_t calls = 0;
      const auto f = [&](std::span<const float> v) {
        ++calls;
        return sphere(v);
      };
      MinimizeOptions o;
      o.max_steps = 100000;
      o.max_evaluations = limit;
      o.estimator = e;
      const Summary s = minimize(f, x, o);
      EXPECT_EQ(s.termination, Termination::max_evaluations);
      EXPECT_EQ(s.evaluations, calls);
      EXPECT_LE(calls, limit);
      EXPECT_GT(calls + per_step, limit) << "another step would have fitted";
      EXPECT_EQ(s.steps, (limit - 2) / per_step);
    }
  }
}

TEST(Minimize, TargetLossStopsTheRun) {
  std::vector<float> x(4, 1.0f);
  const Summary s = minimize(sphere, x, MinimizeOptions{.max_steps = 5000, .target_loss = 0.5,
                                                        .optimizer = {.kind = OptimizerKind::zo_adamm, .lr = 1e-2}});
  EXPECT_EQ(s.termination, Termination::target_loss);
  EXPECT_LT(s.steps, 5000);
  EXPECT_LE(s.final_loss, 0.6);
  std::vector<float> y(4, 0.0f);  // already below the target at x0
  const Summary t = minimize(sphere, y, MinimizeOptions{.target_loss = 0.5});
  EXPECT_EQ(t.termination, Termination::target_loss);
  EXPECT_EQ(t.steps, 0);
  EXPECT_EQ(t.evaluations, 2);
}

TEST(Minimize, TimeLimitStopsTheRun) {
  std::vector<float> x(4, 1.0f);
  const Summary s = minimize(sphere, x, MinimizeOptions{.max_steps = 1000000, .time_limit_s = 1e-9});
  EXPECT_EQ(s.termination, Termination::time_limit);
  EXPECT_EQ(s.steps, 0);
}

bool all_finite(std::span<const float> x) {
  for (float v : x)
    if (!std::isfinite(v)) return false;
  return true;
}

TEST(Minimize, NanPolicyStopKeepsTheLastGoodValues) {
  const std::int64_t bad_call = 1 + 2 * 9 + 2;  // the second evaluation of step 10
  std::vector<float> x(8, 1.0f);
  std::int64_t calls = 0;
  bool saw_nan_input = false;
  const auto f = [&](std::span<const float> v) {
    saw_nan_input = saw_nan_input || !all_finite(v);
    return ++calls == bad_call ? std::numeric_limits<double>::quiet_NaN() : sphere(v);
  };
  const MinimizeOptions o{.max_steps = 100, .seed = 3, .optimizer = {.kind = OptimizerKind::r_adazo, .lr = 1e-2}};
  const Summary s = minimize(f, x, o);
  EXPECT_EQ(s.termination, Termination::non_finite_loss);
  EXPECT_EQ(s.steps, 10);
  EXPECT_EQ(s.skipped_steps, 0);
  EXPECT_EQ(s.evaluations, bad_call + 1);  // plus the final evaluation
  EXPECT_NE(s.message.find("step 10"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("nan"), std::string::npos) << s.message;
  EXPECT_FALSE(saw_nan_input);
  EXPECT_TRUE(all_finite(x));
  EXPECT_TRUE(std::isfinite(s.final_loss));

  // x holds the values after step 9: the same as a clean run of 9 steps, up to the rounding of the
  // failed step's ±ε moves.
  std::vector<float> y(8, 1.0f);
  MinimizeOptions nine = o;
  nine.max_steps = 9;
  minimize(sphere, y, nine);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], 1e-6) << i;
}

TEST(Minimize, NanPolicySkipCountsSkippedStepsAndGoesOn) {
  std::vector<float> x(8, 1.0f);
  std::int64_t calls = 0;
  const auto f = [&](std::span<const float> v) {
    ++calls;
    // Step 3's first evaluation (call 6) and step 6's second (call 12) are NaN.
    return (calls == 6 || calls == 12) ? std::numeric_limits<double>::quiet_NaN()
                                                                    : sphere(v);
  };
  std::int64_t skipped_seen = 0;
  MinimizeOptions o{.max_steps = 20, .optimizer = {.kind = OptimizerKind::zo_adamm, .lr = 1e-2},
                    .nan_policy = NanPolicy::skip};
  o.callbacks.push_back([&](const StepInfo& info) {
    skipped_seen += info.skipped;
    return true;
  });
  const Summary s = minimize(f, x, o);
  EXPECT_EQ(s.termination, Termination::max_steps);
  EXPECT_EQ(s.steps, 20);
  EXPECT_EQ(s.skipped_steps, 2);
  EXPECT_EQ(skipped_seen, 2);
  EXPECT_EQ(s.evaluations, calls);
  EXPECT_EQ(s.evaluations, 2 + 2 * 20 - 1);  // step 3 stopped after its NaN first evaluation
  EXPECT_TRUE(all_finite(x));
  EXPECT_LT(s.final_loss, s.initial_loss);
}

TEST(Minimize, ANonFiniteStartStopsAtOnceUnderTheStopPolicy) {
  std::vector<float> x(3, 1.0f);
  const Summary s = minimize([](std::span<const float>) { return std::numeric_limits<double>::infinity(); }, x,
                             MinimizeOptions{});
  EXPECT_EQ(s.termination, Termination::non_finite_loss);
  EXPECT_EQ(s.steps, 0);
  EXPECT_EQ(x, std::vector<float>(3, 1.0f));
}

TEST(Minimize, WorksWithEveryDirectionFamilyAndAFloatObjective) {
  for (const DirectionOptions& d :
       {DirectionOptions{}, DirectionOptions{.kind = DirectionKind::sparse, .keep = 0.5},
        DirectionOptions{.distribution = Distribution::sphere}, DirectionOptions{.distribution = Distribution::rademacher}}) {
    std::vector<float> x(64, 1.0f);
    const Summary s = minimize([](std::span<const float> v) { return float(sphere(v)); }, x,
                               MinimizeOptions{.max_steps = 300, .direction = d, .optimizer = {.lr = 2e-3}});
    EXPECT_LT(s.final_loss, 0.5 * s.initial_loss) << to_string(d.kind) << " " << to_string(d.distribution);
  }
}

std::string error_of(const MinimizeOptions& o, std::vector<float> x = std::vector<float>(3, 1.0f)) {
  try {
    minimize(sphere, x, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Minimize, BadOptionsAreErrorsNamingTheField) {
  EXPECT_NE(error_of({.max_steps = 0}).find("max_steps = 0"), std::string::npos);
  EXPECT_NE(error_of({.max_evaluations = -1}).find("max_evaluations = -1"), std::string::npos);
  EXPECT_NE(error_of({.max_evaluations = 3}).find("max_evaluations = 3"), std::string::npos);
  EXPECT_NE(error_of({.target_loss = std::nan("")}).find("target_loss"), std::string::npos);
  EXPECT_NE(error_of({.time_limit_s = -1}).find("time_limit_s = -1"), std::string::npos);
  EXPECT_NE(error_of({.estimator = {.eps = 0}}).find("eps = 0"), std::string::npos);
  EXPECT_NE(error_of({.optimizer = {.lr = -1}}).find("lr = -1"), std::string::npos);
  EXPECT_NE(error_of({.schedule = {.lr_min_ratio = 2}}).find("lr_min_ratio = 2"), std::string::npos);
  EXPECT_NE(error_of({.direction = {.order = BlockOrder::cyclic, .blocks_per_step = 0}}).find("blocks_per_step"),
            std::string::npos);
  MinimizeOptions empty_callback;
  empty_callback.callbacks.push_back(nullptr);
  EXPECT_NE(error_of(empty_callback).find("callbacks[0]"), std::string::npos);
  EXPECT_NE(error_of({}, {}).find("x is empty"), std::string::npos);
}

TEST(Minimize, TheObjectiveSeesXInPlaceAndNamesRoundTrip) {
  std::vector<float> x(5, 2.0f);
  const float* seen = nullptr;
  minimize([&](std::span<const float> v) { seen = v.data(); return sphere(v); }, x, MinimizeOptions{.max_steps = 1});
  EXPECT_EQ(seen, x.data());
  EXPECT_EQ(nan_policy_from_string("skip"), NanPolicy::skip);
  EXPECT_EQ(nan_policy_from_string(to_string(NanPolicy::stop)), NanPolicy::stop);
  EXPECT_THROW(nan_policy_from_string("ignore"), Error);
  EXPECT_EQ(to_string(Termination::non_finite_loss), "non_finite_loss");
}

}  // namespace
}  // namespace zo
