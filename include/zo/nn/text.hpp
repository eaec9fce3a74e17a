// Scoring over token ids, for `zo score` (which tokenizes with zo::nn::Tokenizer), and the check that
// a tokenizer fits a model. Generation is in generate.hpp.
#pragma once

#include "zo/nn/model.hpp"
#include "zo/nn/tokenizer.hpp"

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace zo::nn {

// Perplexity of a token sequence, evaluated in consecutive windows of at most max_length tokens (HF's
// perplexity recipe with stride = max_length): within a window, token i is predicted from tokens
// before it in the same window; the first token of each window is not scored. Windows are batched
// `batch` at a time, right-padded (mask 0, label −100).
struct ScoreOptions {
  std::int64_t max_length = 0;  // tokens per window; 0 = the model's max_position_embeddings
  std::int64_t batch = 4;       // windows per forward pass, > 0
  void validate() const;        // throws zo::Error naming the field, value and rule
};

struct ScoreResult {
  std::vector<float> token_losses;  // per input token (nats); NaN where the token is not scored
  double sum = 0.0;                 // summed cross-entropy of the scored tokens
  std::int64_t count = 0;           // scored tokens
  double mean_loss = 0.0;           // sum / count
  double perplexity = 0.0;          // exp(mean_loss)
};

// Throws zo::Error when ids has fewer than 2 tokens (nothing to score).
ScoreResult score(Model& model, std::span<const std::int32_t> ids, const ScoreOptions& options = {});

// A tokenizer belongs to a model only if every id it can produce is a row of the model's embeddings:
// throws zo::Error naming both files when tokenizer.vocab_size() > config.json's vocab_size (a model's
// vocabulary may be larger, as OPT's padded 50 272 against GPT-2's 50 257 tokens).
void check_tokenizer_fits(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& model_dir,
                          const std::filesystem::path& tokenizer_path);

}  // namespace zo::nn
