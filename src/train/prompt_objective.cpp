#include "zo/train/prompt_objective.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>

namespace zo {

void PromptObjectiveOptions::validate() const {
  if (eval_batch < 1) fail("option 'eval_batch' = {}: must be >= 1", eval_batch);
}

PromptObjective::PromptObjective(nn::Model& model, std::vector<tasks::EncodedExample> train, std::vector<tasks::EncodedExample> eval,
                                 PromptObjectiveOptions options, LoraAdapters* lora)
    : model_(model), model_params_(model.params()), train_(std::move(train)), eval_(std::move(eval)),
      options_(options), lora_(lora) {
  options_.validate();
  if (train_.empty()) fail("prompt objective: no training examples");
  for (const auto* set : {&train_, &eval_}) {
    for (const tasks::EncodedExample& e : *set) {
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
  step_chunks_.clear();
}

PromptObjective::StepChunk* PromptObjective::step_chunk(std::span<const std::size_t> examples) {
  if (!step_active_ || examples.empty() || examples.size() > step_batch_.size()) return nullptr;
  // A contiguous piece of the step's batch (the whole batch, or one micro-batch of it).
  for (std::size_t offset = 0; offset + examples.size() <= step_batch_.size(); ++offset) {
    if (!std::equal(examples.begin(), examples.end(), step_batch_.begin() + std::ptrdiff_t(offset))) continue;
    for (StepChunk& c : step_chunks_)
      if (c.offset == offset && c.size == examples.size()) return &c;
    step_chunks_.push_back({.offset = offset, .size = examples.size()});
    return &step_chunks_.back();
  }
  return nullptr;
}

std::vector<PromptObjective::Group> PromptObjective::groups_of(const tasks::EncodedExample& e) {
  std::vector<Group> groups;
  std::vector<bool> placed(e.sequences.size(), false);
  for (std::size_t c = 0; c < e.sequences.size(); ++c) {
    if (placed[c]) continue;
    Group g{.candidate = c, .members = {c}};
    placed[c] = true;
    const auto& seq = e.sequences[c];
    if (e.option_lengths[c] == 1) {
      for (std::size_t d = c + 1; d < e.sequences.size(); ++d) {
        const auto& other = e.sequences[d];
        if (placed[d] || e.option_lengths[d] != 1 || other.size() != seq.size()) continue;
        if (!std::equal(seq.begin(), seq.end() - 1, other.begin())) continue;
        g.members.push_back(d);
        placed[d] = true;
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<PromptObjective::Item> PromptObjective::items_of(const std::vector<tasks::EncodedExample>& set,
                                                              std::span<const std::size_t> examples, bool gold_only) const {
  std::vector<Item> items;
  for (std::size_t e : examples) {
    const tasks::EncodedExample& ex = set.at(e);
    if (gold_only) {
      items.push_back({.example = e, .group = {.candidate = std::size_t(ex.gold), .members = {std::size_t(ex.gold)}}});
      continue;
    }
    for (Group& g : groups_of(ex)) items.push_back({.example = e, .group = std::move(g)});
  }
  return items;
}

PromptObjective::Packed PromptObjective::pack_items(const std::vector<tasks::EncodedExample>& set, std::span<const Item> items) const {
  std::vector<const std::vector<std::int32_t>*> sequences;
  std::vector<std::int32_t> lengths;
  std::vector<std::int32_t> also;
  for (const Item& it : items) {
    const tasks::EncodedExample& ex = set[it.example];
    sequences.push_back(&ex.sequences[it.group.candidate]);
    lengths.push_back(ex.option_lengths[it.group.candidate]);
    for (std::size_t m = 1; m < it.group.members.size(); ++m) also.push_back(ex.sequences[it.group.members[m]].back());
  }
  Packed p = pack(sequences, lengths);
  std::sort(also.begin(), also.end());
  also.erase(std::unique(also.begin(), also.end()), also.end());
  p.also = std::move(also);
  return p;
}

void PromptObjective::scatter(const std::vector<tasks::EncodedExample>& set, std::span<const Item> items, const Packed& packed,
                              const nn::LossResult& result, std::vector<std::vector<std::vector<double>>>& log_probs) const {
  const std::size_t A = packed.also.size();
  std::size_t at = 0;  // first counted position of the item's sequence
  for (const Item& it : items) {
    const tasks::EncodedExample& ex = set[it.example];
    auto& lp = log_probs[it.example];
    if (lp.size() != ex.sequences.size()) lp.resize(ex.sequences.size());
    const std::size_t n = std::size_t(ex.option_lengths[it.group.candidate]);
    auto& own = lp[it.group.candidate];
    own.clear();
    for (std::size_t j = 0; j < n; ++j) own.push_back(-double(result.token_losses[at + j]));
    for (std::size_t m = 1; m < it.group.members.size(); ++m) {
      const std::int32_t token = ex.sequences[it.group.members[m]].back();
      const std::size_t a = std::size_t(std::lower_bound(packed.also.begin(), packed.also.end(), token) - packed.also.begin());
      lp[it.group.members[m]] = {double(result.also_log_probs[at * A + a])};
    }
    at += n;
  }
  sequences_ += std::int64_t(items.size());
}

double PromptObjective::loss(std::span<const std::size_t> batch) { return loss_terms(batch).reduce(); }

LossTerms PromptObjective::loss_terms(std::span<const std::size_t> batch) {
  StepChunk* const chunk = step_chunk(batch);
  const bool in_step = chunk != nullptr;
  sync_lora(!in_step);
  const bool lm = options_.loss == tasks::PromptLoss::lm;
  const std::vector<Item> items = items_of(train_, batch, lm);
  std::optional<Packed> local;
  const Packed* packed = nullptr;
  if (in_step) {
    if (!chunk->packed) chunk->packed = pack_items(train_, items);
    packed = &*chunk->packed;
  } else {
    local = pack_items(train_, items);
    packed = &*local;
  }
  const nn::TokenBatch view = packed->view();
  nn::LossResult result;
  const std::int64_t k = in_step ? step_prefix_layer_ : 0;
  if (k > 0) {
    if (chunk->hidden.empty()) chunk->hidden = model_.hidden_states(view, k);
    result = model_.loss_from(k, view, chunk->hidden, packed->labels, packed->also);
  } else {
    result = model_.loss(view, packed->labels, packed->also);
  }
  ++forward_passes_;
  LossTerms terms;
  if (lm) {
    // One addend per counted position (Model::loss's order: row by row), one row per example.
    sequences_ += std::int64_t(items.size());
    terms.values = std::move(result.position_losses);
    for (std::int64_t b = 0; b < packed->B; ++b) {
      std::int64_t counted = 0;
      for (std::int64_t t = 1; t < packed->T; ++t) counted += packed->labels[std::size_t(b * packed->T + t)] != nn::ignore_index;
      terms.counts.push_back(counted);
    }
    return terms;
  }
  std::vector<std::vector<std::vector<double>>> log_probs(train_.size());
  scatter(train_, items, *packed, result, log_probs);
  for (std::size_t e : batch) {
    std::vector<double> s;
    for (const auto& lp : log_probs[e]) s.push_back(tasks::candidate_score(lp, tasks::CandidateScore::mean));
    terms.values.push_back(tasks::classification_example_loss(s, train_[e].gold));
    terms.counts.push_back(1);
  }
  return terms;
}

Evaluation PromptObjective::evaluate() {
  SingleProcess single;
  return evaluate_on(single);
}

Evaluation PromptObjective::evaluate_on(Communicator& comm) {
  sync_lora(true);
  Evaluation out;
  out.examples = std::int64_t(eval_.size());
  if (eval_.empty()) return out;
  // This rank's contiguous shard of the examples: one item a sequence (a candidate, or single-token
  // candidates sharing a prompt), eval_batch a pass.
  const Shard shard = shard_of(eval_.size(), comm.size(), comm.rank());
  std::vector<std::size_t> mine;
  for (std::size_t e = shard.begin; e < shard.end; ++e) mine.push_back(e);
  const std::vector<Item> items = items_of(eval_, mine, false);
  std::vector<std::vector<std::vector<double>>> log_probs(eval_.size());
  for (std::size_t start = 0; start < items.size(); start += std::size_t(options_.eval_batch)) {
    const std::size_t end = std::min(items.size(), start + std::size_t(options_.eval_batch));
    const std::span<const Item> chunk(items.data() + start, end - start);
    const Packed p = pack_items(eval_, chunk);
    const nn::LossResult r = model_.loss(p.view(), p.labels, p.also);
    ++forward_passes_;
    scatter(eval_, chunk, p, r, log_probs);
  }
  // Per example, one record: [length, correct, has margin, margin term, classification term, gold's
  // option-token log-probabilities …]; gathered in example order, then summed as one process sums them.
  std::vector<double> records;
  for (std::size_t e : mine) {
    std::vector<double> scores, means;
    for (const auto& lp : log_probs[e]) {
      scores.push_back(tasks::candidate_score(lp, options_.score));
      means.push_back(tasks::candidate_score(lp, tasks::CandidateScore::mean));
    }
    const int g = eval_[e].gold;
    double margin = 0.0;
    if (means.size() > 1) {
      double best_other = -std::numeric_limits<double>::infinity();
      for (std::size_t c = 0; c < means.size(); ++c)
        if (c != std::size_t(g)) best_other = std::max(best_other, means[c]);
      margin = means[std::size_t(g)] - best_other;
    }
    const std::vector<double>& gold_lp = log_probs[e][std::size_t(g)];
    records.push_back(double(5 + gold_lp.size()));
    records.push_back(tasks::predict(scores) == g ? 1.0 : 0.0);
    records.push_back(means.size() > 1 ? 1.0 : 0.0);
    records.push_back(margin);
    records.push_back(options_.loss == tasks::PromptLoss::lm ? 0.0 : tasks::classification_example_loss(means, g));
    records.insert(records.end(), gold_lp.begin(), gold_lp.end());
  }
  const std::vector<double> all = comm.size() > 1 ? comm.allgather(records) : records;
  std::int64_t correct = 0;
  std::vector<std::int64_t> class_total, class_correct;  // by gold candidate index
  double gold_sum = 0.0, margin_sum = 0.0, classification_sum = 0.0;
  std::int64_t gold_count = 0, margin_count = 0;
  std::size_t at = 0;
  for (std::size_t e = 0; e < eval_.size(); ++e) {
    if (at >= all.size()) fail("evaluation: the ranks returned {} values for {} examples", all.size(), eval_.size());
    const std::size_t length = std::size_t(all[at]);
    const double* r = all.data() + at;
    const std::size_t g = std::size_t(eval_[e].gold);
    if (class_total.size() <= g) class_total.resize(g + 1, 0), class_correct.resize(g + 1, 0);
    ++class_total[g];
    if (r[1] != 0.0) ++correct, ++class_correct[g];
    if (r[2] != 0.0) {
      margin_sum += r[3];
      ++margin_count;
    }
    classification_sum += r[4];
    for (std::size_t i = 5; i < length; ++i) gold_sum -= r[i];
    gold_count += std::int64_t(length - 5);
    at += length;
  }
  out.accuracy = double(correct) / double(eval_.size());
  if (margin_count > 0) out.margin = margin_sum / double(margin_count);
  double recall_sum = 0.0;
  int classes = 0;
  for (std::size_t c = 0; c < class_total.size(); ++c)
    if (class_total[c] > 0) recall_sum += double(class_correct[c]) / double(class_total[c]), ++classes;
  out.balanced_accuracy = recall_sum / double(classes);
  out.loss = options_.loss == tasks::PromptLoss::lm ? gold_sum / double(gold_count) : classification_sum / double(eval_.size());
  return out;
}

}  // namespace zo
