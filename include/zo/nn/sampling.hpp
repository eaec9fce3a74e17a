// Choosing the next token from a model's logits: greedy, or sampled with temperature, top-k and
// top-p (nucleus) filtering, applied in that order (as Hugging Face's generate applies them).
//
//   temperature 0          greedy: the argmax of the logits (the lowest id on a tie); top-k, top-p
//                          and the seed are then unused.
//   temperature τ > 0      p_i ∝ exp(logit_i / τ) over the vocabulary, then
//   top-k k ≥ 1            keep the k most probable tokens (0 = keep all),
//   top-p p ∈ (0, 1]       keep the fewest most probable tokens whose probabilities sum to ≥ p (the
//                          token that crosses p is kept; 1 = keep all),
//                          renormalise what is kept and draw one token from it.
// Ranking is by probability, ties broken by the lower id, so the kept set and the draw are defined
// exactly. The draw for step s (the s-th new token, from 0) uses the uniform u ∈ [0, 1) built from
// the 53 high bits of two Philox words at (seed, s) — zo's counter-based generator (core/random.hpp)
// — so a seed reproduces the same tokens whatever else ran before, and the token is the first in
// rank order whose cumulative kept probability exceeds u.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace zo::nn {

struct SamplingOptions {
  double temperature = 0.0;  // >= 0; 0 = greedy
  std::int64_t top_k = 0;    // >= 0; 0 = no top-k filter
  double top_p = 1.0;        // in (0, 1]; 1 = no top-p filter
  std::uint64_t seed = 0;    // the draws' Philox seed
  bool greedy() const { return temperature == 0.0; }
  void validate() const;     // throws zo::Error "option 'NAME' = VALUE: RULE"
};

// The kept tokens and their renormalised probabilities (summing to 1), in rank order (most probable
// first, lower id first on a tie). Greedy gives the argmax alone with probability 1.
std::vector<std::pair<std::int32_t, double>> sampling_distribution(std::span<const float> logits,
                                                                   const SamplingOptions& options);

// The uniform draw u ∈ [0, 1) of step `step` under `seed`.
double sampling_uniform(std::uint64_t seed, std::uint64_t step);

// The token chosen at step `step` (see above). Throws zo::Error on empty logits.
std::int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, std::uint64_t step);

}  // namespace zo::nn
