// The minimize loop: one Estimator, one Optimizer, one Direction over a single param "x".
#include "zo/optim/minimize.hpp"

#include "zo/util/error.hpp"

#include <chrono>
#include <cmath>

namespace zo {

std::string_view to_string(NanPolicy policy) {
  switch (policy) {
    case NanPolicy::stop: return "stop";
    case NanPolicy::skip: return "skip";
  }
  return "unknown";
}

NanPolicy nan_policy_from_string(std::string_view name) {
  if (name == "stop") return NanPolicy::stop;
  if (name == "skip") return NanPolicy::skip;
  fail("unknown NaN policy '{}': expected one of stop, skip", name);
}

std::string_view to_string(Termination t) {
  switch (t) {
    case Termination::max_steps: return "max_steps";
    case Termination::max_evaluations: return "max_evaluations";
    case Termination::target_loss: return "target_loss";
    case Termination::time_limit: return "time_limit";
    case Termination::non_finite_loss: return "non_finite_loss";
    case Termination::callback: return "callback";
  }
  return "unknown";
}

namespace {

std::int64_t evaluations_per_step(const EstimatorOptions& e) {
  return e.difference == Difference::central ? 2 * std::int64_t(e.queries) : std::int64_t(e.queries) + 1;
}

}  // namespace

void MinimizeOptions::validate() const {
  if (max_steps < 1) fail("minimize option max_steps = {}: must be >= 1", max_steps);
  estimator.validate();
  if (max_evaluations < 0) fail("minimize option max_evaluations = {}: must be >= 0 (0 = no limit)", max_evaluations);
  const std::int64_t per_step = evaluations_per_step(estimator);
  if (max_evaluations > 0 && max_evaluations < 2 + per_step)
    fail("minimize option max_evaluations = {}: must be 0 (no limit) or >= {} (the initial and final evaluations "
         "plus one step of {})",
         max_evaluations, 2 + per_step, per_step);
  if (std::isnan(target_loss)) fail("minimize option target_loss = nan: must be a number (-inf = none)");
  if (!(std::isfinite(time_limit_s) && time_limit_s >= 0.0))
    fail("minimize option time_limit_s = {}: must be finite and >= 0 (0 = no limit)", time_limit_s);
  direction.validate(1);
  optimizer.validate();
  schedule.validate();
  for (std::size_t i = 0; i < callbacks.size(); ++i) {
    if (!callbacks[i]) fail("minimize option callbacks[{}] is empty", i);
  }
}

std::string Summary::report() const {
  return fmt::format(
      "zo::minimize stopped: {} ({})\n"
      "  loss        {:.6g} -> {:.6g}\n"
      "  steps       {} ({} skipped)\n"
      "  evaluations {}\n"
      "  time        {:.3f} s\n",
      to_string(termination), message, initial_loss, final_loss, steps, skipped_steps, evaluations, seconds);
}

Summary minimize(const std::function<double(std::span<const float>)>& objective, std::vector<float>& x,
                 const MinimizeOptions& options) {
  options.validate();
  if (!objective) fail("minimize: the objective is empty");
  if (x.empty()) fail("minimize: x is empty: it must hold the start point");

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  ParamSet params;
  params.add("x", DType::f32, {std::int64_t(x.size())}, x.data());
  const Direction direction(options.direction, params);
  const Estimator estimator(options.estimator);
  const auto optimizer = Optimizer::create(options.optimizer);
  const std::span<const float> view(x);
  const Loss loss = [&objective, view] { return objective(view); };
  const std::int64_t per_step = evaluations_per_step(options.estimator);

  Summary s;
  s.initial_loss = objective(view);
  s.evaluations = 1;
  bool done = false;
  if (!std::isfinite(s.initial_loss) && options.nan_policy == NanPolicy::stop) {
    s.termination = Termination::non_finite_loss;
    s.message = fmt::format("the loss at x0 is {} (nan_policy stop)", s.initial_loss);
    done = true;
  } else if (s.initial_loss <= options.target_loss) {
    s.termination = Termination::target_loss;
    s.message = fmt::format("loss at x0 {:.6g} <= target_loss {:.6g}", s.initial_loss, options.target_loss);
    done = true;
  }

  while (!done) {
    if (s.steps >= options.max_steps) {
      s.termination = Termination::max_steps;
      s.message = fmt::format("reached max_steps = {}", options.max_steps);
      break;
    }
    if (options.max_evaluations > 0 && s.evaluations + per_step + 1 > options.max_evaluations) {
      s.termination = Termination::max_evaluations;
      s.message = fmt::format("another step ({} evaluations) and the final evaluation would exceed max_evaluations = {}",
                              per_step, options.max_evaluations);
      break;
    }
    if (options.time_limit_s > 0.0 && elapsed() >= options.time_limit_s) {
      s.termination = Termination::time_limit;
      s.message = fmt::format("time_limit_s = {} reached", options.time_limit_s);
      break;
    }
    const double lr = options.optimizer.lr * lr_factor(options.schedule, s.steps, options.max_steps);
    const Estimate estimate = estimator.estimate(loss, params, direction, options.seed, s.steps);
    s.evaluations += estimate.evaluations;
    ++s.steps;
    StepInfo info{.step = s.steps, .evaluations = s.evaluations, .loss = estimate.loss, .lr = lr, .skipped = false};
    if (!estimate.finite) {
      if (options.nan_policy == NanPolicy::stop) {
        s.termination = Termination::non_finite_loss;
        s.message = fmt::format("a loss evaluation at step {} was {} (nan_policy stop): x holds the values from "
                                "before that step",
                                s.steps, estimate.loss);
        break;
      }
      ++s.skipped_steps;
      info.skipped = true;
    } else {
      optimizer->step(params, direction, estimate, lr);
    }
    for (std::size_t i = 0; i < options.callbacks.size() && !done; ++i) {
      if (!options.callbacks[i](info)) {
        s.termination = Termination::callback;
        s.message = fmt::format("callbacks[{}] returned false after step {}", i, s.steps);
        done = true;
      }
    }
    if (!done && !info.skipped && estimate.loss <= options.target_loss) {
      s.termination = Termination::target_loss;
      s.message = fmt::format("loss {:.6g} <= target_loss {:.6g} at step {}", estimate.loss, options.target_loss, s.steps);
      done = true;
    }
  }

  s.final_loss = objective(view);
  ++s.evaluations;
  s.seconds = elapsed();
  return s;
}

}  // namespace zo
