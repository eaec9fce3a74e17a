// zo::tasks::bench_synthetic(options): several ZO optimizers on one synthetic function (synthetic.hpp)
// with the same seed — so the same directions — and the same query budget, over one learning rate
// or a grid. `zo bench synthetic` is this call with its flags bound to SyntheticBenchOptions.
//
// Writes under `out`: curves.csv (optimizer, lr, step, queries, noiseless loss), summary.json (the
// configuration, every run, the best η per optimizer, the equal-η comparison), curves.png (loss
// against queries at each optimizer's best η) and table.md (the same tables as text). Losses in the
// reports are noiseless f(x), evaluated outside the query count. A run whose logged loss exceeds
// diverge_factor × max(|f(x0)|, 1) is stopped and reported as diverged.
#pragma once

#include "zo/optim/minimize.hpp"
#include "zo/tasks/synthetic.hpp"
#include "zo/util/option_list.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace zo::tasks {

struct SyntheticBenchOptions {
  std::string function = "rosenbrock";  // quadratic, rosenbrock, levy, ackley
  std::int64_t dim = 10000;             // d >= 1 (rosenbrock >= 2)
  std::vector<std::string> optimizers = {"zo-sgd", "zo-adamm", "r-adazo"};
  std::string baseline{};               // the ratio column's optimizer; "" = the first listed
  std::int64_t steps = 1000;            // steps per run, >= 1
  std::uint64_t seed = 0;
  std::string out = "zo-bench-synthetic";
  std::optional<double> lr{};           // one η for every optimizer (default 1e-3); excludes lr_grid
  std::vector<double> lr_grid{};        // every optimizer runs each η
  int queries = 1;                      // q
  double eps = 1e-3;                    // ε
  std::string direction = "gaussian";   // gaussian, rademacher, sphere
  std::string difference = "central";   // central, forward
  double noise = 0.0;                   // σ of Gaussian noise on every query
  double condition = 1e3;               // quadratic: largest / smallest curvature
  double beta1 = 0.9;
  double beta2 = 0.99;
  std::string nan_policy = "stop";      // stop, skip
  std::int64_t log_every = 0;           // log the noiseless loss every n steps (0 = about 500 points)
  double diverge_factor = 1e4;          // 0 = never stop a run for divergence
  int threads = 0;                      // runs in parallel (0 = all cores)
  void validate() const;                // throws zo::Error "option 'NAME' = VALUE: RULE"
};

// Every option with its name and help: the flags of `zo bench synthetic`.
const OptionList<SyntheticBenchOptions>& synthetic_bench_option_list();

struct SyntheticPoint {
  std::int64_t step = 0, queries = 0;
  double loss = 0.0;  // noiseless
};

struct SyntheticRun {
  OptimizerKind optimizer = OptimizerKind::zo_sgd;
  double lr = 0.0;
  Summary summary{};                         // zo::minimize's
  double initial_loss = 0.0, final_loss = 0.0;  // noiseless
  bool diverged = false;
  std::vector<SyntheticPoint> curve{};
};

struct SyntheticBenchResult {
  std::vector<SyntheticRun> runs{};
  nlohmann::json summary{};   // what summary.json holds
  std::string tables{};       // what table.md holds
  std::vector<std::filesystem::path> files{};
};

struct SyntheticBenchHooks {
  // Called about every 0.2 s from the calling thread: steps done of all runs, their total, a status.
  std::function<void(std::int64_t done, std::int64_t total, const std::string& status)> progress{};
  // Entries written first in summary.json (the command line, the commit, the date).
  nlohmann::json provenance = nlohmann::json::object();
};

SyntheticBenchResult bench_synthetic(const SyntheticBenchOptions& options, const SyntheticBenchHooks& hooks = {});

}  // namespace zo::tasks
