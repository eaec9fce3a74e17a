#include "zo/train/prompt_objective.hpp"

#include "zo/core/error.hpp"

#include <algorithm>
#include <cstdlib>

namespace zo {

void PromptObjectiveOptions::validate() const {
  if (eval_batch < 1) fail("option 'eval_batch' = {}: must be >= 1", eval_batch);
}

PromptObjective::PromptObjective(nn::Model& model, std::vector<EncodedExample> train, std::vector<EncodedExample> eval,
                                 PromptObjectiveOptions options, LoraAdapters* lora)
    : model_(model), model_params_(model.params()), train_(std::move(train)), eval_(std::move(eval)),
      options_(options), lora_(lora) {
  options_.validate();
  if (train_.empty()) fail("prompt objective: no training examples");
  for (const auto* set : {&train_, &eval_}) {
    for (const EncodedExample& e : *set) {
      if (e.sequences.empty()) fail("{}: the example has no candidates", e.where);
      if (e.gold < 0 || std::size_t(e.gold) >= e.sequences.size()) fail("{}: gold index {} outside the candidates", e.where, e.gold);
    }
  }
  pad_id_ = model.config().pad_token_id.value_or(0);
}

ParamSet& PromptObjective::params() { return lora_ ? lora_->params() : model_params_; }

PromptObjective::Packed PromptObjective::pack(const std::vector<const std::vector<std::int32_t>*>& sequences,
                                              const std::vector<std::int32_t>& option_lengths) const {
  Packed p;
  p.B = std::int64_t(sequences.size());
  for (const auto* s : sequences) p.T = std::max(p.T, std::int64_t(s->size()));
  p.tokens.assign(std::size_t(p.B * p.T), pad_id_);
  p.mask.assign(std::size_t(p.B * p.T), 0);
  p.labels.assign(std::size_t(p.B * p.T), nn::ignore_index);
  for (std::int64_t b = 0; b < p.B; ++b) {
    const auto& s = *sequences[std::size_t(b)];
    const std::int64_t n = std::int64_t(s.size());
    for (std::int64_t t = 0; t < n; ++t) {
      p.tokens[std::size_t(b * p.T + t)] = s[std::size_t(t)];
      p.mask[std::size_t(b * p.T + t)] = 1;
      if (t >= n - option_lengths[std::size_t(b)]) p.labels[std::size_t(b * p.T + t)] = s[std::size_t(t)];
    }
  }
  return p;
}

void PromptObjective::sync_lora(bool all) {
  if (lora_ == nullptr) return;
  if (all || lora_all_dirty_) {
    lora_->merge();
    lora_all_dirty_ = false;
    return;
  }
  // Between forward passes only the current step's blocks move (perturbation), and between steps
  // only the previous step's (its update).
  std::vector<std::uint32_t> dirty = step_blocks_;
  dirty.insert(dirty.end(), previous_blocks_.begin(), previous_blocks_.end());
  if (dirty.empty()) return;
  lora_->merge(dirty);
}

std::int64_t PromptObjective::prefix_layer(std::span<const std::uint32_t> blocks) const {
  const std::int64_t L = model_.config().num_layers;
  const ParamSet& set = lora_ ? lora_->params() : model_params_;
  std::int64_t k = L;
  for (std::uint32_t b : blocks) {
    const std::string& name = set.blocks()[b].name;
    if (name == "head" && lora_ == nullptr) continue;  // final norm / untied head: after every layer
    if (!name.starts_with("layers.")) return 0;
    char* end = nullptr;
    const long layer = std::strtol(name.c_str() + 7, &end, 10);
    if (end == name.c_str() + 7 || *end != '\0') return 0;
    k = std::min<std::int64_t>(k, layer);
  }
  return k;
}

void PromptObjective::begin_step(std::span<const std::size_t> batch, std::span<const std::uint32_t> blocks) {
  if (step_active_) previous_blocks_ = step_blocks_;
  step_active_ = true;
  step_blocks_.assign(blocks.begin(), blocks.end());
  step_batch_.assign(batch.begin(), batch.end());
  step_prefix_layer_ = options_.shared_prefix ? prefix_layer(blocks) : 0;
  step_packed_.reset();
  step_hidden_.clear();
}

double PromptObjective::loss(std::span<const std::size_t> batch) {
  const bool in_step = step_active_ && std::equal(batch.begin(), batch.end(), step_batch_.begin(), step_batch_.end());
  sync_lora(!in_step);
  std::optional<Packed> local;
  const Packed* packed = nullptr;
  std::vector<int> gold;
  std::vector<std::size_t> candidates_of;  // classification: candidate count per example
  for (std::size_t i : batch) {
    gold.push_back(train_.at(i).gold);
    candidates_of.push_back(train_[i].sequences.size());
  }
  if (in_step && step_packed_) {
    packed = &*step_packed_;
  } else {
    std::vector<const std::vector<std::int32_t>*> sequences;
    std::vector<std::int32_t> lengths;
    for (std::size_t i : batch) {
      const EncodedExample& e = train_[i];
      if (options_.loss == PromptLoss::lm) {
        sequences.push_back(&e.sequences[std::size_t(e.gold)]);
        lengths.push_back(e.option_lengths[std::size_t(e.gold)]);
      } else {
        for (std::size_t c = 0; c < e.sequences.size(); ++c) {
          sequences.push_back(&e.sequences[c]);
          lengths.push_back(e.option_lengths[c]);
        }
      }
    }
    local = pack(sequences, lengths);
    if (in_step) {
      step_packed_ = std::move(local);
      packed = &*step_packed_;
    } else {
      packed = &*local;
    }
  }
  const nn::TokenBatch view = packed->view();
  nn::LossResult result;
  const std::int64_t k = in_step ? step_prefix_layer_ : 0;
  if (k > 0) {
    if (step_hidden_.empty()) step_hidden_ = model_.hidden_states(view, k);
    result = model_.loss_from(k, view, step_hidden_, packed->labels);
  } else {
    result = model_.loss(view, packed->labels);
  }
  ++forward_passes_;
  if (options_.loss == PromptLoss::lm) return result.mean;
  // Token losses come in (row, position) order: each row's option tokens are consecutive.
  std::vector<std::vector<double>> scores;
  std::size_t at = 0, row = 0;
  for (std::size_t e = 0; e < batch.size(); ++e) {
    const EncodedExample& ex = train_[batch[e]];
    std::vector<double> s;
    for (std::size_t c = 0; c < ex.sequences.size(); ++c, ++row) {
      const std::size_t n = std::size_t(ex.option_lengths[c]);
      double sum = 0.0;
      for (std::size_t j = 0; j < n; ++j) sum -= result.token_losses[at + j];
      at += n;
      s.push_back(sum / double(n));
    }
    scores.push_back(std::move(s));
  }
  return classification_loss(scores, gold);
}

Evaluation PromptObjective::evaluate() {
  sync_lora(true);
  Evaluation out;
  out.examples = std::int64_t(eval_.size());
  if (eval_.empty()) return out;
  // Flatten (example, candidate) pairs and score them eval_batch sequences at a time.
  std::vector<std::pair<std::size_t, std::size_t>> items;
  for (std::size_t e = 0; e < eval_.size(); ++e) {
    for (std::size_t c = 0; c < eval_[e].sequences.size(); ++c) items.emplace_back(e, c);
  }
  std::vector<std::vector<std::vector<double>>> log_probs(eval_.size());
  for (std::size_t e = 0; e < eval_.size(); ++e) log_probs[e].resize(eval_[e].sequences.size());
  for (std::size_t start = 0; start < items.size(); start += std::size_t(options_.eval_batch)) {
    const std::size_t end = std::min(items.size(), start + std::size_t(options_.eval_batch));
    std::vector<const std::vector<std::int32_t>*> sequences;
    std::vector<std::int32_t> lengths;
    for (std::size_t i = start; i < end; ++i) {
      const auto [e, c] = items[i];
      sequences.push_back(&eval_[e].sequences[c]);
      lengths.push_back(eval_[e].option_lengths[c]);
    }
    const Packed p = pack(sequences, lengths);
    const nn::LossResult r = model_.loss(p.view(), p.labels);
    ++forward_passes_;
    std::size_t at = 0;
    for (std::size_t i = start; i < end; ++i) {
      const auto [e, c] = items[i];
      auto& lp = log_probs[e][c];
      for (std::int32_t j = 0; j < eval_[e].option_lengths[c]; ++j) lp.push_back(-double(r.token_losses[at++]));
    }
  }
  std::int64_t correct = 0;
  std::vector<std::vector<double>> mean_scores;
  std::vector<int> gold;
  double gold_sum = 0.0;
  std::int64_t gold_count = 0;
  for (std::size_t e = 0; e < eval_.size(); ++e) {
    std::vector<double> scores, means;
    for (const auto& lp : log_probs[e]) {
      scores.push_back(candidate_score(lp, options_.score));
      means.push_back(candidate_score(lp, CandidateScore::mean));
    }
    if (predict(scores) == eval_[e].gold) ++correct;
    mean_scores.push_back(std::move(means));
    gold.push_back(eval_[e].gold);
    for (double v : log_probs[e][std::size_t(eval_[e].gold)]) gold_sum -= v;
    gold_count += std::int64_t(log_probs[e][std::size_t(eval_[e].gold)].size());
  }
  out.accuracy = double(correct) / double(eval_.size());
  out.loss = options_.loss == PromptLoss::lm ? gold_sum / double(gold_count) : classification_loss(mean_scores, gold);
  return out;
}

}  // namespace zo
