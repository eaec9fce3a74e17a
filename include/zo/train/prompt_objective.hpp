// Prompt-based classification as a TrainObjective over a zo::nn::Model (MeZO's objective).
//
//   loss(batch)  lm:             the gold candidate's sequences, labels = its option tokens only;
//                                 Model::loss's mean = MeZO's token-averaged cross-entropy
//                classification: every candidate's sequence; s_c = mean option-token log-likelihood;
//                                 cross-entropy over the candidates (prompt_loss.hpp)
//   evaluate()   every candidate of every evaluation example, eval_batch sequences per forward pass;
// Candidates of one token that share the rest of their sequence (label words after one prompt: "yes" /
// "no") are scored from ONE sequence: the others' log-probabilities are read at the same position
// (Model::loss's `also`), which halves a binary task's classification and evaluation passes.
//                accuracy = share of examples whose best-scoring candidate (CandidateScore) is gold;
//                loss = the training loss kind on the evaluation set.
// Sequences are padded on the right to the longest in the forward pass (attention mask 0, label
// ignore_index), with the model's pad_token_id (0 when it has none).
//
// Shared prefix (docs/methods.md §8): when the step's moving blocks are all model layers ≥ k ("layers.<k>"
// blocks, or "head"), the layers below k compute the same activations at θ+εz and θ−εz: the first
// evaluation of the step keeps the residual stream entering layer k and every evaluation of the step
// resumes from it (Model::hidden_states / loss_from, bit-identical to a full forward). On by default.
//
// In LoRA mode the objective merges the adapters of the blocks that moved since the last forward pass
// into the model's weights first (lora.hpp).
#pragma once

#include "zo/nn/model.hpp"
#include "zo/tasks/encoded_example.hpp"
#include "zo/tasks/prompt_loss.hpp"
#include "zo/train/lora.hpp"
#include "zo/train/trainer.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace zo {

struct PromptObjectiveOptions {
  tasks::PromptLoss loss = tasks::PromptLoss::lm;
  tasks::CandidateScore score = tasks::CandidateScore::mean;  // MeZO's evaluation: mean log-likelihood per option token
  std::int64_t eval_batch = 8;                  // sequences per evaluation forward pass, >= 1
  bool shared_prefix = true;
  void validate() const;
};

class PromptObjective : public TrainObjective {
 public:
  // Full mode: trains model.params(). LoRA mode (lora != nullptr): trains lora->params(); `lora` must
  // wrap this model's params and outlive the objective. Throws zo::Error on an empty training set or
  // examples without candidates.
  PromptObjective(nn::Model& model, std::vector<tasks::EncodedExample> train, std::vector<tasks::EncodedExample> eval,
                  PromptObjectiveOptions options, LoraAdapters* lora = nullptr);

  ParamSet& params() override;
  std::size_t train_size() const override { return train_.size(); }
  void begin_step(std::span<const std::size_t> batch, std::span<const std::uint32_t> blocks) override;
  double loss(std::span<const std::size_t> batch) override;  // loss_terms(batch).reduce()
  // lm: each example's option-token cross-entropies (count: its option tokens); classification: each
  // example's cross-entropy over its candidates (count 1). A contiguous piece of the step's batch
  // (a micro-batch) reuses the step's packing and shared prefix for that piece.
  LossTerms loss_terms(std::span<const std::size_t> batch) override;
  Evaluation evaluate() override;  // evaluate_on(SingleProcess)
  // Each rank scores a contiguous shard of the evaluation examples; the per-example results are
  // all-gathered and summed in example order, so every rank gets evaluate()'s values bit for bit.
  Evaluation evaluate_on(Communicator& comm) override;

  // Forward passes run so far (a loss with a shared prefix counts as one).
  std::int64_t forward_passes() const { return forward_passes_; }
  // Sequences those passes ran (single-token candidates sharing a prompt count as one).
  std::int64_t sequences() const { return sequences_; }
  // The model's parameters (the same views in both modes).
  ParamSet& model_params() { return model_params_; }

 private:
  struct Packed {
    std::vector<std::int32_t> tokens, mask, labels;
    std::vector<std::int32_t> also;  // sorted token ids of the merged candidates (Model::loss's `also`)
    std::int64_t B = 0, T = 0;
    nn::TokenBatch view() const { return {.B = B, .T = T, .tokens = tokens, .mask = mask}; }
  };
  // The candidates scored from one sequence: its own (`candidate`) first, then single-token candidates
  // that share all its other tokens.
  struct Group {
    std::size_t candidate = 0;
    std::vector<std::size_t> members;
  };
  struct Item {
    std::size_t example = 0;
    Group group;
  };
  static std::vector<Group> groups_of(const tasks::EncodedExample& e);
  std::vector<Item> items_of(const std::vector<tasks::EncodedExample>& set, std::span<const std::size_t> examples, bool gold_only) const;
  Packed pack(const std::vector<const std::vector<std::int32_t>*>& sequences, const std::vector<std::int32_t>& option_lengths) const;
  Packed pack_items(const std::vector<tasks::EncodedExample>& set, std::span<const Item> items) const;
  // Writes each item's members' option-token log-probabilities into log_probs[example][candidate].
  void scatter(const std::vector<tasks::EncodedExample>& set, std::span<const Item> items, const Packed& packed,
               const nn::LossResult& result, std::vector<std::vector<std::vector<double>>>& log_probs) const;
  void sync_lora(bool all);
  // What one contiguous piece of the step's batch keeps across the step's evaluations.
  struct StepChunk {
    std::size_t offset = 0, size = 0;
    std::optional<Packed> packed{};
    std::vector<float> hidden{};  // the shared prefix's residual stream
  };
  // The piece `examples` of the current step's batch (created on first use); nullptr when it is not one.
  StepChunk* step_chunk(std::span<const std::size_t> examples);
  std::int64_t prefix_layer(std::span<const std::uint32_t> blocks) const;

  nn::Model& model_;
  ParamSet model_params_;
  std::vector<tasks::EncodedExample> train_, eval_;
  PromptObjectiveOptions options_;
  LoraAdapters* lora_ = nullptr;
  std::int32_t pad_id_ = 0;
  std::int64_t forward_passes_ = 0;
  mutable std::int64_t sequences_ = 0;
  // The current step (from begin_step).
  std::vector<std::uint32_t> step_blocks_, previous_blocks_;
  std::vector<std::size_t> step_batch_;
  std::int64_t step_prefix_layer_ = 0;
  std::vector<StepChunk> step_chunks_;
  bool step_active_ = false;
  bool lora_all_dirty_ = true;
};

}  // namespace zo
