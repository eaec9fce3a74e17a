// LoRA adapters (Hu et al. 2021) for ZO fine-tuning, as MeZO's LoRA mode uses them (MeZO
// large_models/lora.py: adapters on the attention q and v projections, r = 8, α = 16).
//
// For each target weight W (out × in) of the model:  W_eff = W₀ + (α / r) · B · A,
//   A (r × in)  initialised U(−1/√in, 1/√in)  (PyTorch's kaiming_uniform_(a = √5), as PEFT and MeZO),
//               drawn from Philox(init_seed, tensor_key(A's name)) — reproducible, no global RNG;
//   B (out × r) initialised 0, so W_eff = W₀ at the start.
// The adapters are the only trainable parameters; W₀ is frozen.
//
// Engine hook: the forward engine (zo::nn::Model) has no adapter path, so this wrapper keeps a
// float32 copy of each target W₀ and writes the merged W₀ + (α/r)·B·A into the model's weight before
// a forward pass (merge). That is the same function as y = W₀x + (α/r)·B(Ax) up to float rounding of
// the sum; it costs 2·out·in·r flops and one write of W per merged target — small against a forward
// pass over B·T tokens when r is small. Extra memory: the W₀ copies (4 bytes × targets' numel) and
// the adapters.
//
// Adapter names: "<module>.lora_A.weight" / "<module>.lora_B.weight", where <module> is the target's
// name without ".weight" (PEFT's naming under the model's own prefix). Blocks: one per model layer
// ("layers.<k>", as zo::nn::Model names its blocks), holding that layer's adapters.
#pragma once

#include "zo/core/params.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace zo {

struct LoraOptions {
  int rank = 8;                                     // r >= 1
  double alpha = 16.0;                              // α > 0; the update is scaled by α / r
  std::string target = "(q_proj|v_proj)\\.weight$"; // ECMAScript regex over the model's 2-D parameter names
  std::uint64_t init_seed = 0;                      // A's initialisation
  void validate() const;                            // throws zo::Error naming the field
};

class LoraAdapters {
 public:
  // Finds the targets among `model` (which must outlive this object) and creates the adapters.
  // Throws zo::Error when no 2-D parameter matches, or rank exceeds a target's dimensions.
  LoraAdapters(const ParamSet& model, LoraOptions options);
  LoraAdapters(const LoraAdapters&) = delete;
  LoraAdapters& operator=(const LoraAdapters&) = delete;

  const LoraOptions& options() const { return options_; }
  ParamSet& params() { return params_; }  // the adapters (trainable)
  std::size_t targets() const { return targets_.size(); }

  // Writes W₀ + (α/r)·B·A into the model's target weights whose adapters belong to `blocks` (indices
  // into params().blocks()); all targets when `blocks` is empty.
  void merge(std::span<const std::uint32_t> blocks = {});
  // Bytes this wrapper allocates (adapters + W₀ copies).
  std::int64_t bytes() const;

 private:
  struct Target {
    std::size_t model_param;       // index in the model's ParamSet
    std::int64_t out = 0, in = 0;
    std::vector<float> w0;         // out × in, float32 copy of the frozen weight
    std::vector<float> a, b;       // r × in, out × r
    std::uint32_t block = 0;       // adapter block
  };
  const ParamSet& model_;
  LoraOptions options_;
  std::vector<Target> targets_;
  ParamSet params_;
};

}  // namespace zo
