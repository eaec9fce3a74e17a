#include "zo/train/replay.hpp"

#include "zo/core/direction.hpp"
#include "zo/core/random.hpp"
#include "zo/util/error.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/step_driver.hpp"
#include "zo/train/options_json.hpp"
#include "zo/train/trainer.hpp"

#include <bit>
#include <cmath>

namespace zo {

namespace {

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// The recomputed estimate against its ledger row (`used`: evaluations the estimator asked for).
void check_row(const Estimate& est, const LedgerRow& row, std::size_t used, const std::string& line) {
  if (used != row.losses.size()) fail("{}: {} evaluations recorded, the estimator used {}", line, row.losses.size(), used);
  if (est.blocks != row.blocks) fail("{}: the recomputed active blocks differ from the recorded ones", line);
  if (est.probes.size() != row.probes.size()) fail("{}: {} probes recorded, {} recomputed", line, row.probes.size(), est.probes.size());
  for (std::size_t k = 0; k < row.probes.size(); ++k) {
    const Probe& a = est.probes[k];
    const Probe& b = row.probes[k];
    if (a.draw.seed != b.draw.seed || std::bit_cast<std::uint32_t>(a.draw.scale) != std::bit_cast<std::uint32_t>(b.draw.scale)) {
      fail("{}: probe {}: the recomputed seed or scale differs from the recorded one", line, k);
    }
    if (!same_bits(a.rho, b.rho) && !(std::isnan(a.rho) && std::isnan(b.rho))) {
      fail("{}: probe {}: ρ recomputed as {} but recorded as {}", line, k, a.rho, b.rho);
    }
  }
  if (row.skipped != !est.finite) fail("{}: the row's skipped flag does not match its losses", line);
}

}  // namespace

ReplaySummary replay_ledger(const Ledger& ledger, ParamSet& params, const std::string& where) {
  const nlohmann::json& config = ledger.config;
  check_z_stream_version(ledger_z_stream(config, where), where);
  for (const char* key : {"params", "direction", "estimator", "optimizer", "seed"}) {
    if (!config.contains(key)) fail("{}: the ledger's config has no '{}' (not a zo finetune ledger?)", where, key);
  }
  const nlohmann::json described = describe_params(params);
  if (described != config.at("params")) {
    fail("{}: the parameters to replay onto differ from the run's (names, dtypes, shapes or blocks)\n  ledger: {}\n  model:  {}",
         where, config.at("params").dump(), described.dump());
  }
  const DirectionOptions direction_options = direction_options_from_json(config.at("direction"), where + ": direction");
  const Direction direction(direction_options, params);
  const Estimator estimator(estimator_options_from_json(config.at("estimator"), where + ": estimator"));
  std::unique_ptr<Optimizer> optimizer = Optimizer::create(optimizer_options_from_json(config.at("optimizer"), where + ": optimizer"));
  const nlohmann::json& seed_json = config.at("seed");
  if (!seed_json.is_number_integer() || (!seed_json.is_number_unsigned() && seed_json.get<std::int64_t>() < 0))
    fail("{}: the ledger's config: 'seed' = {}: must be an integer >= 0", where, seed_json.dump());
  const std::uint64_t seed = seed_json.get<std::uint64_t>();

  // The step loop with each step's evaluations read from its row instead of computed, and the row's
  // learning rate; a row recorded as skipped skips its update as the run did.
  const auto line_of = [&](std::int64_t t) { return fmt::format("{}:{}", where, t + 3); };
  const EstimateFn estimate = [&](std::int64_t t) {
    const LedgerRow& row = ledger.rows[std::size_t(t)];
    const std::string line = line_of(t);
    if (row.step != t) fail("{}: step {} where step {} was expected (the ledger must start at 0 without gaps)", line, row.step, t);
    std::size_t next = 0;
    const Loss loss = [&]() {
      if (next >= row.losses.size()) fail("{}: the estimator asked for more evaluations than the {} recorded", line, row.losses.size());
      return row.losses[next++];
    };
    // The restore is left to the update, as in training, so that replay rounds as the run did.
    Estimate est = estimator.estimate(loss, params, direction, seed, row.step, Restore::in_update);
    try {
      check_row(est, row, next, line);
    } catch (...) {
      finish_restore(params, direction, est);
      throw;
    }
    return est;
  };
  StepDriver driver(params, direction, *optimizer,
                    {.seed = seed,
                     .max_steps = std::int64_t(ledger.rows.size()),
                     .lr_at = [&](std::int64_t t) { return ledger.rows[std::size_t(t)].lr; },
                     .nan_policy = NanPolicy::skip});
  const StepSummary run = driver.run(estimate, evaluations_per_step(estimator.options()));
  ReplaySummary summary;
  summary.steps = run.steps_run;
  summary.skipped = run.skipped_steps;
  return summary;
}

}  // namespace zo
