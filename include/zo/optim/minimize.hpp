// zo::minimize(objective, x0, options): zeroth-order minimisation of any black-box function of a
// float vector, with every estimator, direction and optimizer zo has. Returns a Summary. It is the
// step driver (step_driver.hpp) over one parameter "x", with f(x0) evaluated before the first step
// and f(x) after the last.
//
//   std::vector<float> x(100, 1.0f);
//   auto summary = zo::minimize([](std::span<const float> x) { ... return loss; }, x,
//                               zo::MinimizeOptions{.max_steps = 500,
//                                                   .optimizer = {.kind = zo::OptimizerKind::r_adazo}});
#pragma once

#include "zo/core/direction.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/schedule.hpp"
#include "zo/optim/step_driver.hpp"

#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

// Anything callable on a float span returning a number is an objective.
template <class F>
concept Objective = requires(F f, std::span<const float> x) {
  { f(x) } -> std::convertible_to<double>;
};

// What callbacks see after each step.
struct StepInfo {
  std::int64_t step = 0;         // steps completed (1 after the first)
  std::int64_t evaluations = 0;  // objective evaluations so far (queries)
  double loss = 0.0;             // the estimator's loss at this step (Estimate::loss)
  double lr = 0.0;               // learning rate used
  bool skipped = false;          // the update was skipped (non-finite loss under NanPolicy::skip)
};
// Return false to stop the run (Termination::callback).
using Callback = std::function<bool(const StepInfo&)>;

struct MinimizeOptions {
  std::int64_t max_steps = 1000;        // >= 1
  std::int64_t max_evaluations = 0;     // 0 = no limit; else the run stops before exceeding it
  double target_loss = -std::numeric_limits<double>::infinity();  // stop once loss <= target
  double time_limit_s = 0.0;            // 0 = no limit
  std::uint64_t seed = 0;               // run seed: every direction derives from it
  DirectionOptions direction{};
  EstimatorOptions estimator{};
  OptimizerOptions optimizer{};
  ScheduleOptions schedule{};
  NanPolicy nan_policy = NanPolicy::stop;
  std::vector<Callback> callbacks{};
  void validate() const;                // throws zo::Error naming the field
};

struct Summary {
  Termination termination = Termination::max_steps;
  std::string message{};
  double initial_loss = 0.0;   // f(x0), one evaluation (counted)
  double final_loss = 0.0;     // f(x) at the end, one evaluation (counted)
  std::int64_t steps = 0;
  std::int64_t evaluations = 0;
  std::int64_t skipped_steps = 0;
  double seconds = 0.0;
  std::string report() const;  // a few lines for people
};

// Type-erased form: x is optimised in place, as one parameter named "x".
Summary minimize(const std::function<double(std::span<const float>)>& objective, std::vector<float>& x,
                 const MinimizeOptions& options);

template <Objective F>
  requires(!std::same_as<std::decay_t<F>, std::function<double(std::span<const float>)>>)
Summary minimize(F&& objective, std::vector<float>& x, const MinimizeOptions& options) {
  return minimize(std::function<double(std::span<const float>)>(
                      [&objective](std::span<const float> v) { return static_cast<double>(objective(v)); }),
                  x, options);
}

}  // namespace zo
