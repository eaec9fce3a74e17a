#include "zo/nn/text.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace zo::nn {

void ScoreOptions::validate() const {
  if (max_length < 0 || max_length == 1)
    fail("option 'max_length' = {}: must be 0 (the model's limit) or >= 2", max_length);
  if (batch <= 0) fail("option 'batch' = {}: must be > 0", batch);
}

void check_tokenizer_fits(const Model& model, const Tokenizer& tokenizer, const std::filesystem::path& model_dir,
                          const std::filesystem::path& tokenizer_path) {
  const std::int64_t model_vocab = model.config().vocab_size;
  if (tokenizer.vocab_size() > model_vocab)
    fail("tokenizer '{}' has {} tokens but model '{}' has vocab_size {} (config.json): the tokenizer does not belong "
         "to this model",
         tokenizer_path.string(), tokenizer.vocab_size(), model_dir.string(), model_vocab);
}

ScoreResult score(Model& model, std::span<const std::int32_t> ids, const ScoreOptions& options) {
  options.validate();
  const std::int64_t n = std::int64_t(ids.size());
  if (n < 2) fail("score: {} token(s): at least 2 are needed (one to predict from, one to predict)", n);
  const std::int64_t limit = model.config().max_positions;
  const std::int64_t window = std::min(options.max_length == 0 ? limit : options.max_length, limit);
  if (window < 2) fail("score: window of {} tokens: must be >= 2", window);

  ScoreResult result;
  result.token_losses.assign(ids.size(), std::numeric_limits<float>::quiet_NaN());
  const std::int64_t windows = (n + window - 1) / window;
  const std::int32_t pad = model.config().pad_token_id.value_or(0);
  for (std::int64_t first = 0; first < windows; first += options.batch) {
    const std::int64_t B = std::min(options.batch, windows - first);
    // T = the longest window in this batch; shorter ones (only the text's last) are right-padded.
    const std::int64_t T = std::min(window, n - first * window);
    std::vector<std::int32_t> tokens(std::size_t(B * T), pad), mask(std::size_t(B * T), 0),
        labels(std::size_t(B * T), ignore_index);
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t start = (first + b) * window, len = std::min(window, n - start);
      for (std::int64_t t = 0; t < len; ++t) {
        const auto i = std::size_t(b * T + t);
        tokens[i] = ids[std::size_t(start + t)];
        mask[i] = 1;
        if (t > 0) labels[i] = tokens[i];
      }
    }
    const LossResult loss = model.loss({B, T, tokens, mask}, labels);
    // loss.token_losses follow (b, t) order over the labelled positions: map them back to the ids.
    std::size_t k = 0;
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t start = (first + b) * window, len = std::min(window, n - start);
      for (std::int64_t t = 1; t < len; ++t) result.token_losses[std::size_t(start + t)] = loss.token_losses[k++];
    }
    result.sum += loss.sum;
    result.count += loss.count;
  }
  result.mean_loss = result.sum / double(result.count);
  result.perplexity = std::exp(result.mean_loss);
  return result;
}

}  // namespace zo::nn
