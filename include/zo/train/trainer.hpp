// The training loop for models: MeZO (ZO-SGD), MeZO-BCD (block-coordinate directions) and the
// adaptive rules (ZO-AdaMM, R-AdaZO …) over a TrainObjective, with evaluation, logs, a seed ledger,
// checkpoints and exact resume.
//
// Per step t (0-based) of a run seeded s:
//   batch  the next batch_size indices of the data order: epoch e's order is
//          seeded_permutation(n, derive_seed(s, e, kDataOrderPurpose)); a batch may span two epochs
//   lr     optimizer.lr × lr_factor(schedule, t, steps)
//   ρ      Estimator::estimate(loss on the batch, θ, direction, s, t)   (in place: +ε, −2ε, restore)
//   θ      Optimizer::step(θ, direction, estimate, lr)
// A non-finite loss follows nan_policy: stop (θ keeps its last good value, a checkpoint of it is
// written, the run ends with Termination::non_finite_loss) or skip (the update is skipped and
// counted). θ is never written with NaN either way.
//
// Files under out_dir:
//   ledger.tsv        one row per step (ledger.hpp); rows are fsync'ed per `ledger_fsync_every`
//   checkpoints/      every checkpoint_every steps and at the end (checkpoint.hpp)
//   train_log.csv     step,loss,lr,skipped,evaluations,seconds       (one row per step)
//   eval_log.csv      step,eval_loss,accuracy,examples,seconds       (every eval_every steps, and at 0 and the end)
// With resume, the newest checkpoint is loaded (θ, optimizer state, step, data position), the
// ledger and logs are cut back to it, and the run continues; the final θ is bit-identical to an
// uninterrupted run's (same build, same thread count). A checkpoint that does not load (a file missing
// or corrupt) is skipped for the one before it; without a checkpoint, resume starts at step 0. A kill
// at any moment leaves a folder that resume continues (scripts/kill_test.sh, docs/reliability.md).
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/minimize.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/schedule.hpp"
#include "zo/train/communicator.hpp"
#include "zo/train/loss_terms.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace zo {

// derive_seed purpose of the per-epoch data order.
inline constexpr std::uint32_t kDataOrderPurpose = 0x0da7a0;

struct Evaluation {
  double loss = 0.0;      // mean loss on the evaluation set (the objective's definition)
  double accuracy = 0.0;  // fraction of examples predicted correctly, in [0, 1]
  std::int64_t examples = 0;
  // Mean over examples of the gold candidate's score minus the best other candidate's (mean option-token
  // log-likelihoods; the label-word margin): > 0 where the gold label word wins. NaN when undefined.
  double margin = std::numeric_limits<double>::quiet_NaN();
  // Mean over the gold classes present of the fraction of that class predicted correctly (per-class
  // recall): what accuracy hides on an imbalanced split, where one-sided answers score the majority
  // share. NaN when the objective has no classes.
  double balanced_accuracy = std::numeric_limits<double>::quiet_NaN();
};

// What the trainer trains.
class TrainObjective {
 public:
  virtual ~TrainObjective() = default;
  // The trainable parameters, partitioned into blocks (the block-coordinate unit).
  virtual ParamSet& params() = 0;
  // Number of training examples the batches index.
  virtual std::size_t train_size() const = 0;
  // Called before each step's evaluations with the step's batch and the blocks that will move during
  // it (perturbation and update touch only them). Lets an objective reuse work across the step's
  // evaluations (a shared prefix) or refresh derived state; the default does nothing.
  virtual void begin_step(std::span<const std::size_t> batch, std::span<const std::uint32_t> blocks) {
    (void)batch;
    (void)blocks;
  }
  // Loss on the training examples `batch` at θ as it is now. May be non-finite.
  virtual double loss(std::span<const std::size_t> batch) = 0;
  // The same loss as per-example terms (loss_terms.hpp), so that pieces of a batch reduce to exactly
  // loss(batch): what micro-batches and data-parallel ranks need. The default throws zo::Error (the
  // objective supports neither).
  virtual LossTerms loss_terms(std::span<const std::size_t> batch);
  // Metrics on the evaluation set at θ as it is now (must not change θ).
  virtual Evaluation evaluate() = 0;
  // The same with the ranks of `comm` sharing the work; every rank gets the result. The default
  // evaluates everything on every rank.
  virtual Evaluation evaluate_on(Communicator& comm) {
    (void)comm;
    return evaluate();
  }
};

// How the ranks of a distributed run share a step (docs/distributed.md).
//   data    the step's batch is split into contiguous shards, one a rank; each rank evaluates every
//           probe on its shard and the per-example losses are all-gathered and reduced in the batch's order
//   probes  probe k of a step is evaluated by rank k mod N on the whole batch; the (f₊, f₋) pairs are
//           all-gathered and every rank forms every ρ_k (the seeds are known to all)
enum class ParallelMode { data, probes };
std::string_view to_string(ParallelMode);
ParallelMode parallel_mode_from_string(std::string_view);  // "data" | "probes"; throws zo::Error

struct TrainerOptions {
  std::int64_t steps = 1000;            // T >= 1
  std::int64_t batch_size = 16;         // >= 1
  std::uint64_t seed = 0;               // run seed: directions and data order
  DirectionOptions direction{};
  EstimatorOptions estimator{};
  OptimizerOptions optimizer{};
  ScheduleOptions schedule{};
  NanPolicy nan_policy = NanPolicy::stop;
  std::int64_t eval_every = 0;          // 0 = evaluate only before the first and after the last step
  std::int64_t checkpoint_every = 0;    // 0 = checkpoint only at the end
  int keep_checkpoints = 2;             // >= 1
  int ledger_fsync_every = 1;           // >= 1
  bool evaluate = true;                 // false: no evaluation at all
  std::filesystem::path out_dir;        // required
  bool resume = false;
  std::int64_t micro_batch = 0;         // >= 0: examples per forward pass of a step's batch (0 = all at once)
  ParallelMode parallel = ParallelMode::data;  // with a communicator of more than one rank
  // Extra entries for the ledger's config (model, mode, …): what replay needs to rebuild θ. The
  // trainer adds "direction", "estimator", "optimizer", "seed", "params" (names, shapes, dtypes, blocks).
  nlohmann::json ledger_config = nlohmann::json::object();
  void validate() const;                // throws zo::Error naming the field
};

struct TrainStep {
  std::int64_t step = 0;         // steps completed (1 after the first)
  double loss = 0.0;             // the estimator's loss
  double lr = 0.0;
  bool skipped = false;
  std::int64_t evaluations = 0;  // loss evaluations so far in this process
  double seconds = 0.0;          // training time since this process started (evaluation and checkpoints excluded)
};

struct TrainSummary {
  Termination termination = Termination::max_steps;
  std::string message;
  std::int64_t start_step = 0;   // 0, or the resumed checkpoint's step
  std::int64_t steps = 0;        // steps completed (the run's total, including resumed ones)
  std::int64_t skipped_steps = 0;
  std::int64_t evaluations = 0;  // loss evaluations in this process
  double seconds = 0.0;          // training time in this process (evaluation and checkpoints excluded)
  double eval_seconds = 0.0;
  double checkpoint_seconds = 0.0;
  double loss_seconds = 0.0;     // part of `seconds` spent inside TrainObjective::loss (the forward passes)
  // The same two, in CPU time of the whole process (all threads): robust to other load on the machine.
  double cpu_seconds = 0.0;
  double loss_cpu_seconds = 0.0;
  std::optional<Evaluation> first_eval, last_eval;
  std::vector<double> losses;    // per step of this process
  // The run's ranks and what this rank exchanged with the others (communicator.hpp).
  int ranks = 1;
  ParallelMode parallel = ParallelMode::data;
  CommStats exchange{};
};

// With a communicator of N > 1 ranks, every rank runs the same Trainer over the same objective and
// data; every rank computes the same losses, ρ and update, so θ stays identical on every rank and
// bit-identical to one process running the same global batch. Rank 0 alone writes files (ledger,
// logs, checkpoints); every rank loads the same checkpoint on resume, whatever N was before.
class Trainer {
 public:
  // validates; `communicator` (optional, must outlive run()) spreads each step over its ranks
  Trainer(TrainObjective& objective, TrainerOptions options, Communicator* communicator = nullptr);
  // Called after every step and every evaluation (in this process).
  std::function<void(const TrainStep&)> on_step;
  std::function<void(std::int64_t step, const Evaluation&)> on_eval;
  // What resume found in out_dir: the checkpoint it continues from, one it skipped (incomplete or
  // corrupt) and why, no checkpoint (a start from step 0), a truncated last ledger row it dropped,
  // temporary files a killed run left. Unset: each is written to stderr as "zo: <text>".
  std::function<void(const std::string&)> on_note;
  TrainSummary run();

  // The ledger config this run writes (also what resume compares).
  nlohmann::json ledger_config() const;

 private:
  TrainObjective& objective_;
  TrainerOptions options_;
  Communicator* communicator_ = nullptr;
};

// Identity of a ParamSet for the ledger and checkpoints: names, dtypes, shapes and the block partition.
nlohmann::json describe_params(const ParamSet& params);

}  // namespace zo
