#include "zo/optim/schedule.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace zo {
namespace {

TEST(Schedule, ConstantIsOneEverywhere) {
  for (std::int64_t s : {0, 1, 50, 99}) EXPECT_DOUBLE_EQ(lr_factor({}, s, 100), 1.0);
}

TEST(Schedule, LinearGoesFromOneToTheMinimumAtTheLastStep) {
  const ScheduleOptions o{.kind = ScheduleKind::linear, .lr_min_ratio = 0.1};
  EXPECT_DOUBLE_EQ(lr_factor(o, 0, 11), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 5, 11), 0.55);  // halfway over steps 0..10
  EXPECT_DOUBLE_EQ(lr_factor(o, 10, 11), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(o, 20, 11), 0.1);  // past the end: stays at the minimum
}

TEST(Schedule, CosineFollowsHalfACosine) {
  const ScheduleOptions o{.kind = ScheduleKind::cosine, .lr_min_ratio = 0.2};
  EXPECT_DOUBLE_EQ(lr_factor(o, 0, 101), 1.0);
  EXPECT_NEAR(lr_factor(o, 50, 101), 0.6, 1e-15);                  // cos(π/2) = 0
  EXPECT_NEAR(lr_factor(o, 25, 101), 0.2 + 0.8 * (1 + std::sqrt(0.5)) / 2, 1e-15);
  EXPECT_NEAR(lr_factor(o, 100, 101), 0.2, 1e-15);
}

TEST(Schedule, WarmUpRisesLinearlyFromZeroThenDecays) {
  const ScheduleOptions o{.kind = ScheduleKind::linear, .warmup_steps = 4, .lr_min_ratio = 0.0};
  EXPECT_DOUBLE_EQ(lr_factor(o, 0, 14), 0.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 1, 14), 0.25);
  EXPECT_DOUBLE_EQ(lr_factor(o, 3, 14), 0.75);
  EXPECT_DOUBLE_EQ(lr_factor(o, 4, 14), 1.0);   // decay starts after warm-up, over steps 4..13
  EXPECT_DOUBLE_EQ(lr_factor(o, 9, 14), 1.0 - 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 13, 14), 0.0);
  const ScheduleOptions c{.warmup_steps = 10};
  EXPECT_DOUBLE_EQ(lr_factor(c, 5, 100), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor(c, 10, 100), 1.0);
}

TEST(Schedule, ARunOfOneStepUsesTheFullRate) {
  EXPECT_DOUBLE_EQ(lr_factor({.kind = ScheduleKind::cosine}, 0, 1), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor({.kind = ScheduleKind::linear}, 0, 1), 1.0);
}

TEST(Schedule, BadOptionsAndArgumentsAreErrors) {
  EXPECT_THROW(lr_factor({.warmup_steps = -1}, 0, 10), Error);
  EXPECT_THROW(lr_factor({.lr_min_ratio = 1.5}, 0, 10), Error);
  EXPECT_THROW(lr_factor({.lr_min_ratio = std::nan("")}, 0, 10), Error);
  EXPECT_THROW(lr_factor({}, -1, 10), Error);
  EXPECT_THROW(lr_factor({}, 0, 0), Error);
  try {
    ScheduleOptions{.lr_min_ratio = -0.5}.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lr_min_ratio = -0.5"), std::string::npos);
  }
}

TEST(Schedule, NamesRoundTrip) {
  for (auto k : {ScheduleKind::constant, ScheduleKind::linear, ScheduleKind::cosine})
    EXPECT_EQ(schedule_kind_from_string(to_string(k)), k);
  EXPECT_THROW(schedule_kind_from_string("step"), Error);
}

}  // namespace
}  // namespace zo
