// Two-point zeroth-order gradient estimators using the in-place protocol (docs/methods.md §1–2):
// no copy of θ or z is ever held.
//
//   central (MeZO, SPSA), per probe k:  θ += εz_k; f₊ = f(θ); θ −= 2εz_k; f₋ = f(θ); θ += εz_k (restore)
//                                        ρ_k = (f₊ − f₋) / 2ε
//   forward (R-AdaZO paper):            f₀ = f(θ) once; per probe: θ += εz_k; f_k = f(θ); θ −= εz_k
//                                        ρ_k = (f_k − f₀) / ε
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
};

class Estimator {
 public:
  explicit Estimator(EstimatorOptions options);  // validates
  const EstimatorOptions& options() const { return options_; }

  // Runs the protocol for `step`: active blocks from direction.active_blocks(run_seed, step), probe
  // seeds probe_seed(run_seed, step, k). θ is back at its entry values (up to float rounding of
  // the ±ε sequence) on return, also when an evaluation throws or is not finite.
  Estimate estimate(const Loss& loss, ParamSet& params, const Direction& direction, std::uint64_t run_seed,
                    std::int64_t step) const;

 private:
  EstimatorOptions options_;
};

}  // namespace zo
