// Rebuilding fine-tuned parameters from the base parameters and a seed ledger alone.
//
// For each ledger row, in order, replay runs the same Estimator protocol on θ with a loss that returns
// the row's recorded evaluations (so θ goes through the very same +ε, −2ε, +ε float operations and ρ
// is recomputed from the same numbers), checks that the recomputed blocks, seeds, scales and ρ equal
// the recorded ones bit for bit, then applies the same Optimizer step at the recorded learning rate.
// The result is bit-identical to the trained θ for every optimizer (stateful ones rebuild their state
// on the way), on the same build and machine type. No forward pass is run: replay costs three
// perturbation passes and one update pass per step.
#pragma once

#include "zo/core/params.hpp"
#include "zo/train/ledger.hpp"

#include <cstdint>
#include <string>

namespace zo {

struct ReplaySummary {
  std::int64_t steps = 0;    // rows applied
  std::int64_t skipped = 0;  // rows whose update was skipped (non-finite loss)
};

// `params` must hold the base values, with the names, shapes, dtypes and blocks the ledger's config
// records (config["params"]); otherwise a zo::Error says what differs. A row whose recomputed values
// differ from the recorded ones is a zo::Error naming `where` and the row's line: the base model or the
// build is not the one the run used.
ReplaySummary replay_ledger(const Ledger& ledger, ParamSet& params, const std::string& where);

}  // namespace zo
