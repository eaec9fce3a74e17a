// The step driver: the order of its events, its stop criteria, the NaN policy, resuming at a step,
// recorded learning rates, and the probe-seed formula the ledger depends on.
#include "zo/optim/step_driver.hpp"

#include "zo/core/random.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace zo {
namespace {

struct Problem {
  std::vector<float> x = std::vector<float>(16, 1.0f);
  ParamSet params;
  Problem() { params.add("x", DType::f32, {16}, x.data()); }
  double value() const {
    double s = 0.0;
    for (float v : x) s += double(v) * v;
    return s;
  }
};

// Records every event as text.
class Recorder : public StepCallback {
 public:
  std::vector<std::string> events;
  std::int64_t stop_after = -1;
  void begin_step(std::int64_t step, std::span<const std::uint32_t> blocks) override {
    events.push_back(fmt::format("begin {} blocks {}", step, blocks.size()));
  }
  bool end_step(const StepRecord& r) override {
    events.push_back(fmt::format("end {} lr {} skipped {} evals {}", r.step, r.lr, r.skipped, r.evaluations));
    return r.step != stop_after;
  }
};

TEST(StepDriver, ProbeSeedIsDeriveSeedOfTheStepAndProbePlusOne) {
  EXPECT_EQ(probe_seed(42, 7, 0), derive_seed(42, 7, 1));
  EXPECT_EQ(probe_seed(42, 7, 3), derive_seed(42, 7, 4));
  EXPECT_NE(probe_seed(42, 7, 0), probe_seed(42, 8, 0));
}

TEST(StepDriver, EventsComeInOrderAndTheLossFalls) {
  Problem p;
  const Direction direction({}, p.params);
  const Estimator estimator({.eps = 1e-3});
  auto optimizer = Optimizer::create({.lr = 0.05});
  Recorder rec;
  StepCallback* const cbs[] = {&rec};
  StepDriver driver(p.params, direction, *optimizer, {.seed = 1, .max_steps = 3, .lr = 0.05});
  const double before = p.value();
  const StepSummary s = driver.run(estimator, [&] { return p.value(); }, cbs);
  EXPECT_EQ(s.termination, Termination::max_steps);
  EXPECT_EQ(s.steps, 3);
  EXPECT_EQ(s.steps_run, 3);
  EXPECT_EQ(s.evaluations, 6);
  EXPECT_LT(p.value(), before);
  const std::vector<std::string> expected = {"begin 0 blocks 1", "end 0 lr 0.05 skipped false evals 2",
                                             "begin 1 blocks 1", "end 1 lr 0.05 skipped false evals 4",
                                             "begin 2 blocks 1", "end 2 lr 0.05 skipped false evals 6"};
  EXPECT_EQ(rec.events, expected);
}

TEST(StepDriver, ResumesAtFirstStepWithTheScheduleOfTheWholeRun) {
  Problem a, b;
  const Estimator estimator({});
  const ScheduleOptions cosine{.kind = ScheduleKind::cosine};
  // One run of 6 steps against a run of 3 steps resumed for the last 3 with the same state.
  const Direction da({}, a.params), db({}, b.params);
  auto oa = Optimizer::create({.lr = 0.02});
  auto ob = Optimizer::create({.lr = 0.02});
  StepDriver(a.params, da, *oa, {.seed = 9, .max_steps = 6, .lr = 0.02, .schedule = cosine}).run(estimator, [&] { return a.value(); });
  StepDriver(b.params, db, *ob, {.seed = 9, .max_steps = 3, .lr = 0.02, .schedule = cosine}).run(estimator, [&] { return b.value(); });
  EXPECT_NE(a.x, b.x);
  // Not the same: the first half used the 3-step horizon. Redo it with the 6-step horizon, stopped at 3.
  Problem c;
  const Direction dc({}, c.params);
  auto oc = Optimizer::create({.lr = 0.02});
  Recorder stop;
  stop.stop_after = 2;
  StepCallback* const cbs[] = {&stop};
  const StepSummary first = StepDriver(c.params, dc, *oc, {.seed = 9, .max_steps = 6, .lr = 0.02, .schedule = cosine})
                                .run(estimator, [&] { return c.value(); }, cbs);
  EXPECT_EQ(first.termination, Termination::callback);
  EXPECT_EQ(first.steps, 3);
  const StepSummary second = StepDriver(c.params, dc, *oc, {.seed = 9, .first_step = 3, .max_steps = 6, .lr = 0.02, .schedule = cosine})
                                 .run(estimator, [&] { return c.value(); });
  EXPECT_EQ(second.steps, 6);
  EXPECT_EQ(second.steps_run, 3);
  EXPECT_EQ(a.x, c.x);  // bit for bit: the same steps, seeds and rates
}

TEST(StepDriver, NanStopEndsBeforeTheUpdateAndSkipGoesOn) {
  for (const NanPolicy policy : {NanPolicy::stop, NanPolicy::skip}) {
    Problem p;
    const Direction direction({}, p.params);
    const Estimator estimator({});
    auto optimizer = Optimizer::create({.lr = 0.01});
    int calls = 0;
    const Loss loss = [&] { return ++calls == 5 ? std::numeric_limits<double>::quiet_NaN() : p.value(); };
    Recorder rec;
    StepCallback* const cbs[] = {&rec};
    const StepSummary s = StepDriver(p.params, direction, *optimizer, {.max_steps = 4, .lr = 0.01, .nan_policy = policy})
                              .run(estimator, loss, cbs);
    if (policy == NanPolicy::stop) {
      EXPECT_EQ(s.termination, Termination::non_finite_loss);
      EXPECT_EQ(s.steps, 2);  // steps 0 and 1 done; step 2 met the NaN
      EXPECT_EQ(rec.events.back(), "begin 2 blocks 1");  // no end_step for it
      EXPECT_TRUE(std::isnan(s.last_loss));
    } else {
      EXPECT_EQ(s.termination, Termination::max_steps);
      EXPECT_EQ(s.skipped_steps, 1);  // the NaN at f₊ ends that probe: f₋ is not evaluated
      EXPECT_EQ(rec.events[5], "end 2 lr 0.01 skipped true evals 5");
    }
    for (float v : p.x) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(StepDriver, TheEvaluationBudgetKeepsItsReserveAndRecordedRatesWin) {
  Problem p;
  const Direction direction({}, p.params);
  const Estimator estimator({.queries = 2});  // 4 evaluations a step
  auto optimizer = Optimizer::create({.lr = 0.01});
  Recorder rec;
  StepCallback* const cbs[] = {&rec};
  const StepSummary s = StepDriver(p.params, direction, *optimizer,
                                   {.max_steps = 100,
                                    .lr_at = [](std::int64_t t) { return 0.001 * double(t + 1); },
                                    .max_evaluations = 15,
                                    .reserved_evaluations = 1,
                                    .initial_evaluations = 1})
                            .run(estimator, [&] { return p.value(); }, cbs);
  EXPECT_EQ(s.termination, Termination::max_evaluations);
  EXPECT_EQ(s.steps, 3);  // 1 + 3 × 4 + 1 reserved = 14 <= 15; a fourth step would need 18
  EXPECT_EQ(s.evaluations, 13);
  EXPECT_EQ(rec.events[5], "end 2 lr 0.003 skipped false evals 13");
}

TEST(StepDriver, BadOptionsNameTheField) {
  Problem p;
  const Direction direction({}, p.params);
  auto optimizer = Optimizer::create({});
  test::expect_error([&] { StepDriver(p.params, direction, *optimizer, {.first_step = 5, .max_steps = 3}); }, {"max_steps = 3", "first_step = 5"});
  test::expect_error([&] { StepDriver(p.params, direction, *optimizer, {.lr = -1.0}); }, {"lr = -1"});
  test::expect_error([&] { StepDriver(p.params, direction, *optimizer, {.max_evaluations = -2}); }, {"max_evaluations = -2"});
}

}  // namespace
}  // namespace zo
