// Losses and predictions of prompt-based classification (MeZO, large_models/utils.py
// forward_wrap_with_option_len, and run.py's evaluation). For a candidate c with option tokens
// y_1..y_n, ℓ_c = (log p(y_1|…), …, log p(y_n|…)) are the log-softmax values of the model's logits at
// the positions that predict them.
//
//   lm              L = − Σ_examples Σ_j ℓ_gold,j / Σ_examples n_gold
//                   cross-entropy of the gold candidate's tokens over the full vocabulary, averaged
//                   over every option token of the batch (MeZO's default, torch CrossEntropyLoss with
//                   the non-option tokens ignored).
//   classification L = (1/B) Σ_examples − log softmax_c(s_c)[gold],  s_c = mean_j ℓ_c,j
//                   cross-entropy over the candidates' scores only (MeZO's --train_as_classification).
//   prediction      argmax_c s_c, with s_c the candidate score: mean_j ℓ_c,j (MeZO) or Σ_j ℓ_c,j;
//                   ties go to the lowest index.
// All sums are in double (docs/methods.md §7: fp32 accumulation of losses at least).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace zo::tasks {

enum class PromptLoss { lm, classification };
std::string_view to_string(PromptLoss);                 // "lm", "classification"
PromptLoss prompt_loss_from_string(std::string_view);   // throws zo::Error listing the names

enum class CandidateScore { mean, sum };
std::string_view to_string(CandidateScore);                    // "mean", "sum"
CandidateScore candidate_score_from_string(std::string_view);  // throws zo::Error listing the names

// ℓ for targets.size() option tokens: rows holds targets.size() × vocab logits, row j predicting
// targets[j]. Throws zo::Error when sizes disagree or a target is outside [0, vocab).
std::vector<double> option_log_probs(std::span<const float> rows, std::int64_t vocab, std::span<const std::int32_t> targets);

// s_c from ℓ_c; throws zo::Error on an empty ℓ.
double candidate_score(std::span<const double> log_probs, CandidateScore score);

// lm loss over a batch: gold[i] = ℓ of example i's gold candidate.
double lm_loss(std::span<const std::vector<double>> gold);

// classification loss over a batch: scores[i][c] = s_c of example i (mean scores for MeZO's form),
// gold[i] its gold index. Throws zo::Error on mismatched sizes or a gold index out of range.
double classification_loss(std::span<const std::vector<double>> scores, std::span<const int> gold);
// One example's term of classification_loss: −log softmax(scores)[gold]. classification_loss is the
// sum of these in example order, divided by the number of examples.
double classification_example_loss(std::span<const double> scores, int gold);

// argmax of the scores, lowest index on ties; throws zo::Error on an empty list.
int predict(std::span<const double> scores);

}  // namespace zo::tasks
