#include "zo/train/replay.hpp"

#include "zo/core/direction.hpp"
#include "zo/util/error.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/train/options_json.hpp"
#include "zo/train/trainer.hpp"

#include <bit>
#include <cmath>

namespace zo {

namespace {

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

}  // namespace

ReplaySummary replay_ledger(const Ledger& ledger, ParamSet& params, const std::string& where) {
  const nlohmann::json& config = ledger.config;
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
  const std::uint64_t seed = config.at("seed").get<std::uint64_t>();

  ReplaySummary summary;
  for (std::size_t i = 0; i < ledger.rows.size(); ++i) {
    const LedgerRow& row = ledger.rows[i];
    const std::string line = fmt::format("{}:{}", where, i + 3);
    if (row.step != std::int64_t(i)) fail("{}: step {} where step {} was expected (the ledger must start at 0 without gaps)", line, row.step, i);
    std::size_t next = 0;
    const Loss loss = [&]() {
      if (next >= row.losses.size()) fail("{}: the estimator asked for more evaluations than the {} recorded", line, row.losses.size());
      return row.losses[next++];
    };
    const Estimate estimate = estimator.estimate(loss, params, direction, seed, row.step);
    if (next != row.losses.size()) fail("{}: {} evaluations recorded, the estimator used {}", line, row.losses.size(), next);
    if (estimate.blocks != row.blocks) fail("{}: the recomputed active blocks differ from the recorded ones", line);
    if (estimate.probes.size() != row.probes.size()) fail("{}: {} probes recorded, {} recomputed", line, row.probes.size(), estimate.probes.size());
    for (std::size_t k = 0; k < row.probes.size(); ++k) {
      const Probe& a = estimate.probes[k];
      const Probe& b = row.probes[k];
      if (a.draw.seed != b.draw.seed || std::bit_cast<std::uint32_t>(a.draw.scale) != std::bit_cast<std::uint32_t>(b.draw.scale)) {
        fail("{}: probe {}: the recomputed seed or scale differs from the recorded one", line, k);
      }
      if (!same_bits(a.rho, b.rho) && !(std::isnan(a.rho) && std::isnan(b.rho))) {
        fail("{}: probe {}: ρ recomputed as {} but recorded as {}", line, k, a.rho, b.rho);
      }
    }
    if (row.skipped != !estimate.finite) fail("{}: the row's skipped flag does not match its losses", line);
    if (!row.skipped) {
      optimizer->step(params, direction, estimate, row.lr);
    } else {
      ++summary.skipped;
    }
    ++summary.steps;
  }
  return summary;
}

}  // namespace zo
