// The step loop (step_driver.hpp). The order of the checks is part of the contract: every front end
// relies on it to stop where it did before, bit for bit.
#include "zo/optim/step_driver.hpp"

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

std::int64_t evaluations_per_step(const EstimatorOptions& e) {
  return e.difference == Difference::central ? 2 * std::int64_t(e.queries) : std::int64_t(e.queries) + 1;
}

void StepDriverOptions::validate() const {
  if (first_step < 0) fail("step driver option first_step = {}: must be >= 0", first_step);
  if (max_steps < first_step) fail("step driver option max_steps = {}: must be >= first_step = {}", max_steps, first_step);
  if (!lr_at && !(std::isfinite(lr) && lr > 0.0)) fail("step driver option lr = {}: must be finite and > 0", lr);
  schedule.validate();
  if (max_evaluations < 0) fail("step driver option max_evaluations = {}: must be >= 0 (0 = no limit)", max_evaluations);
  if (reserved_evaluations < 0) fail("step driver option reserved_evaluations = {}: must be >= 0", reserved_evaluations);
  if (initial_evaluations < 0) fail("step driver option initial_evaluations = {}: must be >= 0", initial_evaluations);
  if (!(std::isfinite(time_limit_s) && time_limit_s >= 0.0))
    fail("step driver option time_limit_s = {}: must be finite and >= 0 (0 = no limit)", time_limit_s);
  if (std::isnan(target_loss)) fail("step driver option target_loss = nan: must be a number (-inf = none)");
}

StepDriver::StepDriver(ParamSet& params, const Direction& direction, Optimizer& optimizer, StepDriverOptions options)
    : params_(params), direction_(direction), optimizer_(optimizer), options_(std::move(options)) {
  options_.validate();
}

StepSummary StepDriver::run(const Estimator& estimator, const Loss& loss, std::span<StepCallback* const> callbacks) {
  const std::uint64_t seed = options_.seed;
  return run([&](std::int64_t step) { return estimator.estimate(loss, params_, direction_, seed, step, Restore::in_update); },
             evaluations_per_step(estimator.options()), callbacks);
}

StepSummary StepDriver::run(const EstimateFn& estimate_step, std::int64_t per_step, std::span<StepCallback* const> callbacks) {
  if (!estimate_step) fail("step driver: the estimate function is empty");
  if (per_step < 1) fail("step driver: evaluations per step = {}: must be >= 1", per_step);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const StepDriverOptions& o = options_;

  StepSummary s;
  s.steps = o.first_step;
  s.evaluations = o.initial_evaluations;
  s.last_loss = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::uint32_t> blocks;
  while (true) {
    if (s.steps >= o.max_steps) {
      s.termination = Termination::max_steps;
      s.message = fmt::format("reached max_steps = {}", o.max_steps);
      break;
    }
    if (o.max_evaluations > 0 && s.evaluations + per_step + o.reserved_evaluations > o.max_evaluations) {
      s.termination = Termination::max_evaluations;
      s.message = o.reserved_evaluations > 0
                      ? fmt::format("another step ({} evaluations) and the final evaluation would exceed "
                                    "max_evaluations = {}",
                                    per_step, o.max_evaluations)
                      : fmt::format("another step ({} evaluations) would exceed max_evaluations = {}", per_step,
                                    o.max_evaluations);
      break;
    }
    if (o.time_limit_s > 0.0 && elapsed() >= o.time_limit_s) {
      s.termination = Termination::time_limit;
      s.message = fmt::format("time_limit_s = {} reached", o.time_limit_s);
      break;
    }
    const std::int64_t t = s.steps;
    const double lr = o.lr_at ? o.lr_at(t) : o.lr * lr_factor(o.schedule, t, o.max_steps);
    if (!callbacks.empty()) {
      blocks = direction_.active_blocks(o.seed, t);
      for (StepCallback* c : callbacks) c->begin_step(t, blocks);
    }
    Estimate estimate = estimate_step(t);
    s.evaluations += estimate.evaluations;
    s.last_loss = estimate.loss;
    StepRecord record{.step = t, .lr = lr, .estimate = &estimate, .skipped = false, .evaluations = s.evaluations};
    if (!estimate.finite) {
      finish_restore(params_, direction_, estimate);  // no update follows
      if (o.nan_policy == NanPolicy::stop) {
        s.termination = Termination::non_finite_loss;
        s.message = fmt::format("a loss evaluation at step {} was {} (nan_policy stop): θ holds its values from "
                                "before that step",
                                t + 1, estimate.loss);
        break;
      }
      ++s.skipped_steps;
      record.skipped = true;
    } else {
      optimizer_.step(params_, direction_, estimate, lr);
    }
    ++s.steps;
    ++s.steps_run;
    bool stop = false;
    for (std::size_t i = 0; i < callbacks.size() && !stop; ++i) {
      if (!callbacks[i]->end_step(record)) {
        s.termination = Termination::callback;
        s.message = fmt::format("callbacks[{}] returned false after step {}", i, s.steps);
        stop = true;
      }
    }
    if (stop) break;
    if (!record.skipped && estimate.loss <= o.target_loss) {
      s.termination = Termination::target_loss;
      s.message = fmt::format("loss {:.6g} <= target_loss {:.6g} at step {}", estimate.loss, o.target_loss, s.steps);
      break;
    }
  }
  s.seconds = elapsed();
  return s;
}

}  // namespace zo
