// The one ZO step loop. Every run in zo — zo::minimize, the fine-tuning Trainer, the black-box
// attack and ledger replay — is this loop with its own objective and callbacks:
//
//   for t = first_step, first_step + 1, …:
//     stop?     max_steps, the evaluation budget, the time limit      (checked before the step)
//     η_t       options.lr × lr_factor(schedule, t, max_steps)          (or options.lr_at(t))
//     begin     callbacks' begin_step(t, blocks)                        (blocks = direction.active_blocks(seed, t))
//     estimate  Estimator::estimate(loss, θ, direction, seed, t, Restore::in_update)  (or a custom
//               EstimateFn): θ ends at θ − α·z of the last probe, the restore left to the update
//     NaN?      a non-finite loss or ρ: nan_policy stop ends the run here (θ keeps its value from before
//               the step; no update, no end_step), skip counts the step and skips the update; either
//               way θ gets any pending restore (finish_restore)
//     update    Optimizer::step(θ, direction, estimate, η_t): restore and update in one pass
//     end       callbacks' end_step(record); any false stops the run      (Termination::callback)
//     target    a finite loss <= target_loss stops the run               (Termination::target_loss)
//
// Probe k (0-based) of step t in a run seeded s draws its direction from probe_seed(s, t, k)
// (estimator.hpp), which the ledger, replay and checkpoints depend on: it is fixed forever.
//
// Callbacks are the extension point (ensmallen's events): progress, logs, evaluation, checkpoints and
// the seed ledger are callbacks; the schedule stays an option. The Summary says why the loop stopped.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/schedule.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

enum class NanPolicy { stop, skip };  // on a non-finite loss: stop the run, or skip that step's update
std::string_view to_string(NanPolicy);
NanPolicy nan_policy_from_string(std::string_view);  // "stop" | "skip"; throws zo::Error

enum class Termination { max_steps, max_evaluations, target_loss, time_limit, non_finite_loss, callback };
std::string_view to_string(Termination);  // "max_steps", "max_evaluations", …

// Loss evaluations one step makes: 2q (central) or q + 1 (forward).
std::int64_t evaluations_per_step(const EstimatorOptions& options);

// What one finished step did.
struct StepRecord {
  std::int64_t step = 0;          // the step's index t (0-based)
  double lr = 0.0;                // η_t
  const Estimate* estimate = nullptr;
  bool skipped = false;           // the update was skipped (non-finite loss under NanPolicy::skip)
  std::int64_t evaluations = 0;   // evaluations so far in this run, including the initial ones
};

// The loop's events. Derive and override what you need.
class StepCallback {
 public:
  virtual ~StepCallback() = default;
  // Before step t's evaluations; `blocks` are the blocks that will move during it.
  virtual void begin_step(std::int64_t step, std::span<const std::uint32_t> blocks) {
    (void)step;
    (void)blocks;
  }
  // After step t's update (or its skip). Return false to stop the run after this step.
  virtual bool end_step(const StepRecord& record) {
    (void)record;
    return true;
  }
};

// Where an Estimate comes from when it is not Estimator::estimate on a loss: a batched evaluation
// (the attack), recorded losses (replay). It must reproduce Estimator's draws: probe_seed, and the
// blocks direction.active_blocks(seed, step). It may leave a restore pending (Restore::in_update); it
// must then apply it (finish_restore) itself when it throws after estimating.
using EstimateFn = std::function<Estimate(std::int64_t step)>;

struct StepDriverOptions {
  std::uint64_t seed = 0;               // run seed: directions derive from it
  std::int64_t first_step = 0;          // index of the first step run (> 0 when resuming)
  std::int64_t max_steps = 1000;        // the loop ends after step max_steps − 1; >= first_step
  double lr = 1e-3;                     // η, > 0, multiplied by the schedule
  ScheduleOptions schedule{};
  std::function<double(std::int64_t step)> lr_at{};  // when set, η_t = lr_at(t) (replay's recorded rates)
  NanPolicy nan_policy = NanPolicy::stop;
  std::int64_t max_evaluations = 0;     // 0 = no limit; else no step starts that would exceed it …
  std::int64_t reserved_evaluations = 0;  // … with these kept for after the loop (a final evaluation)
  std::int64_t initial_evaluations = 0;   // evaluations made before the loop (counted in the budget)
  double time_limit_s = 0.0;            // 0 = no limit
  double target_loss = -std::numeric_limits<double>::infinity();
  void validate() const;                // throws zo::Error naming the field
};

// Why the loop stopped, and what it did (Ceres's Summary).
struct StepSummary {
  Termination termination = Termination::max_steps;
  std::string message{};
  std::int64_t steps = 0;          // index of the next step to run: first_step + steps run
  std::int64_t steps_run = 0;      // steps run in this call (a non-finite stop does not count its step)
  std::int64_t evaluations = 0;    // including options.initial_evaluations
  std::int64_t skipped_steps = 0;
  double last_loss = 0.0;          // the last step's Estimate::loss (NaN before any step)
  double seconds = 0.0;
};

class StepDriver {
 public:
  // validates `options`
  StepDriver(ParamSet& params, const Direction& direction, Optimizer& optimizer, StepDriverOptions options);

  // The loop with Estimator::estimate on `loss`.
  StepSummary run(const Estimator& estimator, const Loss& loss, std::span<StepCallback* const> callbacks = {});
  // The loop with a custom estimate; `per_step` is the evaluations one step makes (for the budget).
  StepSummary run(const EstimateFn& estimate, std::int64_t per_step, std::span<StepCallback* const> callbacks = {});

 private:
  ParamSet& params_;
  const Direction& direction_;
  Optimizer& optimizer_;
  StepDriverOptions options_;
};

}  // namespace zo
