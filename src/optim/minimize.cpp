// The minimize loop: one Estimator, one Optimizer, one Direction over a single param "x".
#include "zo/optim/minimize.hpp"

#include "zo/util/error.hpp"

#include <chrono>
#include <cmath>

namespace zo {

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

namespace {

// MinimizeOptions::callbacks seen as the driver's events.
class CallbackList : public StepCallback {
 public:
  explicit CallbackList(const std::vector<Callback>& callbacks) : callbacks_(callbacks) {}
  bool end_step(const StepRecord& r) override {
    const StepInfo info{.step = r.step + 1, .evaluations = r.evaluations, .loss = r.estimate->loss, .lr = r.lr, .skipped = r.skipped};
    for (std::size_t i = 0; i < callbacks_.size(); ++i) {
      if (!callbacks_[i](info)) {
        stopped_by_ = i;
        return false;
      }
    }
    return true;
  }
  std::size_t stopped_by_ = 0;

 private:
  const std::vector<Callback>& callbacks_;
};

}  // namespace

Summary minimize(const std::function<double(std::span<const float>)>& objective, std::vector<float>& x,
                 const MinimizeOptions& options) {
  options.validate();
  if (!objective) fail("minimize: the objective is empty");
  if (x.empty()) fail("minimize: x is empty: it must hold the start point");

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();

  ParamSet params;
  params.add("x", DType::f32, {std::int64_t(x.size())}, x.data());
  const Direction direction(options.direction, params);
  const Estimator estimator(options.estimator);
  const auto optimizer = Optimizer::create(options.optimizer);
  const std::span<const float> view(x);
  const Loss loss = [&objective, view] { return objective(view); };

  Summary s;
  s.initial_loss = objective(view);
  s.evaluations = 1;
  if (!std::isfinite(s.initial_loss) && options.nan_policy == NanPolicy::stop) {
    s.termination = Termination::non_finite_loss;
    s.message = fmt::format("the loss at x0 is {} (nan_policy stop)", s.initial_loss);
  } else if (s.initial_loss <= options.target_loss) {
    s.termination = Termination::target_loss;
    s.message = fmt::format("loss at x0 {:.6g} <= target_loss {:.6g}", s.initial_loss, options.target_loss);
  } else {
    StepDriver driver(params, direction, *optimizer,
                      {.seed = options.seed,
                       .max_steps = options.max_steps,
                       .lr = options.optimizer.lr,
                       .schedule = options.schedule,
                       .nan_policy = options.nan_policy,
                       .max_evaluations = options.max_evaluations,
                       .reserved_evaluations = 1,
                       .initial_evaluations = s.evaluations,
                       .time_limit_s = options.time_limit_s,
                       .target_loss = options.target_loss});
    CallbackList callbacks(options.callbacks);
    StepCallback* const list[] = {&callbacks};
    const StepSummary run = driver.run(estimator, loss, list);
    s.termination = run.termination;
    s.message = run.message;
    s.steps = run.steps;
    s.evaluations = run.evaluations;
    s.skipped_steps = run.skipped_steps;
    if (run.termination == Termination::non_finite_loss) {
      ++s.steps;  // minimize counts the step that met the non-finite loss
      s.message = fmt::format("a loss evaluation at step {} was {} (nan_policy stop): x holds the values from "
                              "before that step",
                              s.steps, run.last_loss);
    } else if (run.termination == Termination::callback) {
      s.message = fmt::format("callbacks[{}] returned false after step {}", callbacks.stopped_by_, s.steps);
    }
  }

  s.final_loss = objective(view);
  ++s.evaluations;
  s.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return s;
}

}  // namespace zo
