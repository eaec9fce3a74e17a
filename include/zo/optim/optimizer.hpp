// Update rules: turn an Estimate (probes (z_k, ρ_k) over the step's blocks) into an update of θ,
// applied in one fused pass that regenerates z (kernels.hpp). ĝ = (1/q) Σ_k ρ_k z_k, elementwise.
//
//   zo-sgd       θ −= η (ĝ + λθ); with momentum μ: b = μ b + ĝ + λθ; θ −= η b  (MeZO when μ = 0)
//   zo-sign-sgd  θ −= η sign(ĝ + λθ)                                  (Liu et al. 2019, elementwise)
//   zo-sgd-sign  θ −= η sign(ρ̄) z, ρ̄ per probe                        (ZO-Bench's "ZO-SGD-Sign")
//   zo-rmsprop   v = β₂ v + (1−β₂) ĝ²;  θ −= η ĝ / √(v + ζ)
//   zo-adamm     m = β₁ m + (1−β₁) ĝ;  v = β₂ v + (1−β₂) ĝ²;  v̂ = max(v̂, v);  θ −= η m / √(v̂ + ζ)
//                (Chen et al. 2019; amsgrad = false uses v in place of v̂)
//   r-adazo      m = β₁ m + (1−β₁) ĝ;  v = β₂ v + (1−β₂) m²;  θ −= η m / √(v + ζ)
//                (Shu et al. 2025, the paper's global form: the second moment is built from m, not ĝ)
// ζ is inside the root (the papers' form); zeta_outside_root = true gives √v + ζ, the R-AdaZO authors'
// code. bias_correction divides m and v by (1 − βᵗ) as Adam does; off by default (the R-AdaZO code has
// none). Weight decay λ skips params whose name matches no_decay_pattern (MeZO: biases and norms).
//
// State (momentum b, m, v, v̂) is float32 per parameter, allocated lazily the first time a param moves;
// state = active_block frees a block's state when another block becomes active (BAdam-style memory).
// The API follows torch.optim: param groups override lr scale and weight decay by name pattern;
// state_dict / load_state_dict key state by parameter name and check shapes.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

enum class OptimizerKind { zo_sgd, zo_sign_sgd, zo_sgd_sign, zo_rmsprop, zo_adamm, r_adazo };
std::string_view to_string(OptimizerKind);  // "zo-sgd", "zo-sign-sgd", "zo-sgd-sign", "zo-rmsprop", "zo-adamm", "r-adazo"
OptimizerKind optimizer_kind_from_string(std::string_view);  // throws zo::Error listing valid names

enum class StateScope { all, active_block };
std::string_view to_string(StateScope);  // "all", "active-block"
StateScope state_scope_from_string(std::string_view);

// Overrides for the params whose name matches `pattern` (ECMAScript regex, searched); first match wins.
struct ParamGroup {
  std::string pattern{};
  double lr_scale = 1.0;
  std::optional<double> weight_decay{};
};

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::zo_sgd;
  double lr = 1e-3;                         // η, > 0 (the schedule multiplies it)
  double momentum = 0.0;                    // zo-sgd: μ in [0, 1)
  double weight_decay = 0.0;                // λ >= 0
  std::string no_decay_pattern = "bias|norm|ln_|layernorm";  // params exempt from weight decay
  double beta1 = 0.9;                       // β₁ in [0, 1)
  double beta2 = 0.99;                      // β₂ in [0, 1)
  double zeta = 1e-8;                       // ζ > 0
  bool amsgrad = true;                      // zo-adamm: keep v̂ = max(v̂, v)
  bool bias_correction = false;
  bool zeta_outside_root = false;
  StateScope state = StateScope::all;
  std::vector<ParamGroup> groups{};
  void validate() const;                    // throws zo::Error naming the field, value and rule
};

// Names of the float32 state tensors the rule of `options` keeps per element of θ, in order:
// {} (zo-sgd without momentum, zo-sign-sgd, zo-sgd-sign), {"momentum"}, {"v"} (zo-rmsprop),
// {"m", "v"} (r-adazo, zo-adamm without AMSGrad) or {"m", "v", "vhat"} (zo-adamm). State dicts name
// them "<param name>/<slot>".
std::vector<std::string> state_slots(const OptimizerOptions& options);

// Optimizer state as named float tensors plus scalars: what checkpoints store.
struct StateDict {
  std::string kind{};                                    // to_string(OptimizerKind)
  std::map<std::string, double> scalars{};               // e.g. "t" (updates applied)
  std::map<std::string, std::vector<float>> tensors{};   // "<param name>/m", "<param name>/v", …

  std::string serialize() const;                         // binary: magic "ZOSD", version, then entries
  static StateDict deserialize(std::string_view bytes);  // throws zo::Error on a bad magic, version or size
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  static std::unique_ptr<Optimizer> create(OptimizerOptions options);  // validates

  const OptimizerOptions& options() const { return options_; }

  // Applies the update for `estimate` at learning rate `lr` (the scheduled η), with the estimate's
  // pending restore (Estimate::restore) folded into the same pass: θ ← rule(θ + α·z_restore). Throws
  // zo::Error when estimate.finite is false or any ρ is not finite: θ is never written with NaN, and
  // gets its pending restore alone. When params has a backend, it must be an UpdateBackend
  // (update_backend.hpp): the state moves to its memory (from the host, or from another backend, on
  // the first step there) and the backend runs the pass.
  virtual void step(ParamSet& params, const Direction& direction, const Estimate& estimate, double lr) = 0;

  virtual StateDict state_dict() const = 0;
  // Throws zo::Error naming the tensor when a name is unknown to params, a size does not match, or the
  // kind differs.
  virtual void load_state_dict(const StateDict& state, const ParamSet& params) = 0;

  // Bytes of optimizer state currently allocated.
  virtual std::int64_t state_bytes() const = 0;

 protected:
  explicit Optimizer(OptimizerOptions options) : options_(std::move(options)) {}
  OptimizerOptions options_;
};

}  // namespace zo
