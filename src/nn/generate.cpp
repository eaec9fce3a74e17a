#include "zo/nn/generate.hpp"

#include "zo/nn/kv_cache.hpp"
#include "zo/util/error.hpp"

#include <chrono>

namespace zo::nn {

void GenerateOptions::validate() const {
  require_option(max_new_tokens >= 0, "max-new-tokens", max_new_tokens, "must be >= 0");
  if (on_limit != "stop" && on_limit != "error")
    fail("option 'on-limit' = '{}': must be 'stop' (stop at max_position_embeddings and say so) or 'error' (refuse a "
         "run that would pass it)",
         on_limit);
  sampling.validate();
}

const OptionList<GenerateOptions>& generate_option_list() {
  static const OptionList<GenerateOptions> list = [] {
    using O = GenerateOptions;
    OptionList<O> l;
    l.add("max-new-tokens", &O::max_new_tokens, "tokens to generate (>= 0)")
        .add("on-limit", &O::on_limit,
             "when prompt + generated tokens reach the model's max_position_embeddings: 'stop' (stop there, with a "
             "message on stderr) or 'error' (refuse, before generating, a run whose prompt + max-new-tokens exceeds it)")
        .flag("no-kv-cache", &O::no_kv_cache, "re-run the whole sequence for every new token (slow; for comparison)")
        .add_with("temperature", [](O& o) -> double& { return o.sampling.temperature; },
                  "sampling temperature (>= 0); 0 = greedy (argmax), and then top-k, top-p and seed are unused")
        .add_with("top-k", [](O& o) -> std::int64_t& { return o.sampling.top_k; },
                  "sample among the k most probable tokens (>= 0; 0 = all)")
        .add_with("top-p", [](O& o) -> double& { return o.sampling.top_p; },
                  "sample among the fewest most probable tokens whose probability sums to >= p (in (0, 1]; 1 = all)")
        .add_with("seed", [](O& o) -> std::uint64_t& { return o.sampling.seed; },
                  "seed of the sampling draws (Philox): the same seed gives the same text");
    return l;
  }();
  return list;
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::max_new_tokens: return "max-new-tokens";
    case StopReason::stop_token: return "stop-token";
    case StopReason::position_limit: return "position-limit";
  }
  return "?";
}

void check_position_limit(const ModelConfig& config, std::int64_t prompt_tokens, const GenerateOptions& options) {
  const std::int64_t limit = config.max_positions, P = prompt_tokens;
  if (P <= 0) fail("generate: empty prompt: at least one token is needed");
  if (P > limit)
    fail("generate: the prompt has {} tokens, more than the model's max_position_embeddings = {}", P, limit);
  if (options.on_limit == "error" && P + options.max_new_tokens > limit)
    fail("option 'max-new-tokens' = {}: prompt ({} tokens) + max-new-tokens must be <= the model's "
         "max_position_embeddings = {} (on-limit 'error'); at most {} new tokens fit",
         options.max_new_tokens, P, limit, limit - P);
}

GenerateResult generate(Model& model, std::span<const std::int32_t> prompt, const GenerateOptions& options,
                        const TokenCallback& on_token) {
  options.validate();
  check_position_limit(model.config(), std::int64_t(prompt.size()), options);
  const std::int64_t limit = model.config().max_positions;

  using Clock = std::chrono::steady_clock;
  GenerateResult result;
  std::vector<std::int32_t> sequence(prompt.begin(), prompt.end());
  std::optional<KvCache> cache;
  if (!options.no_kv_cache) cache.emplace(model.config());
  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    // The next token would sit at position len(sequence): past the last position the model has.
    if (std::int64_t(sequence.size()) >= limit) {
      result.stop = StopReason::position_limit;
      return result;
    }
    const auto start = Clock::now();
    std::vector<float> logits;
    if (cache) {
      // Prefill with the prompt, then one position per token: the one not yet in the cache.
      const std::size_t done = std::size_t(cache->length());
      logits = model.forward_cached(*cache, std::span(sequence).subspan(done));
    } else {
      const auto T = std::int64_t(sequence.size());
      logits = model.logits_at({1, T, sequence, {}}, 0, T - 1);
    }
    const std::int32_t next = sample_token(logits, options.sampling, std::uint64_t(step));
    (step == 0 ? result.prefill_seconds : result.decode_seconds) +=
        std::chrono::duration<double>(Clock::now() - start).count();
    sequence.push_back(next);
    result.tokens.push_back(next);
    if (on_token) on_token(next, logits);
    if (options.stop_id && next == *options.stop_id) {
      result.stop = StopReason::stop_token;
      return result;
    }
  }
  result.stop = StopReason::max_new_tokens;
  return result;
}

}  // namespace zo::nn
