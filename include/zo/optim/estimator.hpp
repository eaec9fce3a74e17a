// Two-point zeroth-order gradient estimators using the in-place protocol (docs/methods.md §1–2):
// no copy of θ or z is ever held.
//
//   central (MeZO, SPSA), per probe k:  θ += εz_k; f₊ = f(θ); θ −= 2εz_k; f₋ = f(θ); θ += εz_k (restore)
//                                        ρ_k = (f₊ − f₋) / 2ε
//   forward (R-AdaZO paper):            f₀ = f(θ) once; per probe: θ += εz_k; f_k = f(θ); θ −= εz_k
//                                        ρ_k = (f_k − f₀) / ε
// With Restore::in_update the last probe's restore (+εz_q central, −εz_q forward) is not applied:
// the estimate carries it (Estimate::restore) and the optimizer adds it inside its update pass, so a
// central step with q = 1 makes 3 passes over the moving parameters (+εz, −2εz, restore + update),
// not 4. The restore is applied with the same rounding as a separate pass (θ + α·z, one fma), so
// float32 parameters get the same bits either way. A step that is not finite is always restored.
// The gradient estimate is ĝ = (1/q) Σ_k ρ_k z_k. Scale conventions: z has E[z zᵀ] = I on the moving
// set for every family (sphere is normalised to ‖z‖ = √d), so ĝ is unbiased for the smoothed loss and
// the paper's d/K factor of the sphere estimator is absorbed by the learning rate.
// Evaluations are counted: queries are ZO's cost.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace zo {

enum class Difference { central, forward };
std::string_view to_string(Difference);
Difference difference_from_string(std::string_view);  // "central" | "forward"; throws zo::Error

struct EstimatorOptions {
  double eps = 1e-3;                         // ε (μ in the R-AdaZO paper), > 0
  int queries = 1;                           // q probe directions per step, >= 1
  Difference difference = Difference::central;
  void validate() const;                     // throws zo::Error naming the field
};

// The seed of probe k (0-based) at step t of a run seeded run_seed: derive_seed(run_seed, t, k + 1).
// Every estimate (Estimator, the attack's batched estimate, replay) draws probe k from it; the ledger
// and replay depend on it, so it is fixed forever.
std::uint64_t probe_seed(std::uint64_t run_seed, std::int64_t step, int probe);

// The loss at the parameters' current values (the objective reads θ in place).
using Loss = std::function<double()>;

// When the estimator restores θ: before returning, or inside the update that follows.
enum class Restore { now, in_update };

// A restore left to the update: θ holds its entry values minus alpha·z(probes[probe].draw) over the
// estimate's blocks. probe < 0: nothing pending.
struct PendingRestore {
  int probe = -1;
  float alpha = 0.0f;
  bool pending() const { return probe >= 0; }
};

struct Probe {
  Draw draw;          // seed and scale of z_k
  double rho = 0.0;   // projected gradient ρ_k
};

// Everything an update needs from one step: which blocks moved, and the probes.
struct Estimate {
  std::int64_t step = 0;
  std::vector<std::uint32_t> blocks{};
  std::vector<Probe> probes{};
  double loss = 0.0;              // central: mean of (f₊ + f₋)/2 over probes; forward: f₀
  std::int64_t evaluations = 0;   // loss evaluations this step
  bool finite = true;             // false when any evaluation was NaN or ±Inf (θ is restored regardless)
  PendingRestore restore{};       // set only by Restore::in_update on a finite estimate
};

// Applies e.restore (θ += alpha·z over e.blocks, the perturb pass) and clears it; nothing when none is
// pending. For whoever holds a deferred estimate and will not update (a skipped step, an error).
void finish_restore(ParamSet& params, const Direction& direction, Estimate& e);

class Estimator {
 public:
  explicit Estimator(EstimatorOptions options);  // validates
  const EstimatorOptions& options() const { return options_; }

  // Runs the protocol for `step`: active blocks from direction.active_blocks(run_seed, step), probe
  // seeds probe_seed(run_seed, step, k). θ is back at its entry values (up to float rounding of
  // the ±ε sequence) on return, also when an evaluation throws or is not finite — except, with
  // Restore::in_update on a finite estimate, for the last probe's restore, left in Estimate::restore.
  Estimate estimate(const Loss& loss, ParamSet& params, const Direction& direction, std::uint64_t run_seed,
                    std::int64_t step, Restore restore = Restore::now) const;

 private:
  EstimatorOptions options_;
};

}  // namespace zo
