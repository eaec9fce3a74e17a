// Generation: continuing a prompt token by token, behind `zo generate`.
//
// With the KV cache (the default) the prompt runs through the model once (prefill) and each new
// token then runs one position through the layers, attending to the cached keys and values
// (Model::forward_cached). Without it, every new token re-runs the whole sequence
// (Model::logits_at); the two give the same logits to float rounding, and the same tokens.
//
// The position limit: prompt + generated tokens never exceed the model's max_position_embeddings
// (M). A prompt longer than M is an error. With on_limit "stop", generation stops when the sequence
// reaches M tokens (GenerateResult::stop = position_limit; the caller says so); with "error", a run
// whose prompt + max-new-tokens exceeds M is refused before anything runs. Nothing slides a window
// over the context.
#pragma once

#include "zo/nn/model.hpp"
#include "zo/nn/sampling.hpp"
#include "zo/util/option_list.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo::nn {

struct GenerateOptions {
  std::int64_t max_new_tokens = 32;     // >= 0
  std::string on_limit = "stop";        // at max_position_embeddings: "stop" or "error"
  bool no_kv_cache = false;             // re-run the whole sequence for every token
  SamplingOptions sampling;             // temperature 0 = greedy
  std::optional<std::int32_t> stop_id;  // stop after this token (usually eos); not an option of the list
  void validate() const;                // throws zo::Error "option 'NAME' = VALUE: RULE"
};

// max-new-tokens, on-limit, no-kv-cache, temperature, top-k, top-p, seed.
const OptionList<GenerateOptions>& generate_option_list();

enum class StopReason { max_new_tokens, stop_token, position_limit };
std::string_view to_string(StopReason reason);  // "max-new-tokens", "stop-token", "position-limit"

struct GenerateResult {
  std::vector<std::int32_t> tokens;  // the new tokens only (the stop token included)
  StopReason stop = StopReason::max_new_tokens;
  double prefill_seconds = 0.0;      // the first token's forward (the whole prompt)
  double decode_seconds = 0.0;       // every later token's forward and choice
};

// Called once per new token, as soon as it is chosen, with the logits it was chosen from.
using TokenCallback = std::function<void(std::int32_t token, std::span<const float> logits)>;

// The position limit checked before a run: throws zo::Error when the prompt has no token or more than
// max_position_embeddings, and, with on_limit "error", "option 'max-new-tokens' = N: …" when prompt +
// max_new_tokens exceeds it.
void check_position_limit(const ModelConfig& config, std::int64_t prompt_tokens, const GenerateOptions& options);

// Generates up to options.max_new_tokens tokens after `prompt`. Throws zo::Error on an empty prompt,
// a prompt longer than max_position_embeddings, bad options, and (on_limit "error") a run that would
// pass the limit.
GenerateResult generate(Model& model, std::span<const std::int32_t> prompt, const GenerateOptions& options = {},
                        const TokenCallback& on_token = {});

}  // namespace zo::nn
