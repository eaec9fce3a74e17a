#include "zo/tasks/prompt_loss.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace zo::tasks {

std::string_view to_string(PromptLoss loss) { return loss == PromptLoss::lm ? "lm" : "classification"; }

PromptLoss prompt_loss_from_string(std::string_view name) {
  if (name == "lm") return PromptLoss::lm;
  if (name == "classification") return PromptLoss::classification;
  fail("unknown loss '{}': valid losses are lm, classification", name);
}

std::string_view to_string(CandidateScore score) { return score == CandidateScore::mean ? "mean" : "sum"; }

CandidateScore candidate_score_from_string(std::string_view name) {
  if (name == "mean") return CandidateScore::mean;
  if (name == "sum") return CandidateScore::sum;
  fail("unknown candidate score '{}': valid scores are mean, sum", name);
}

std::vector<double> option_log_probs(std::span<const float> rows, std::int64_t vocab, std::span<const std::int32_t> targets) {
  if (vocab < 1) fail("option_log_probs: vocab = {}: must be >= 1", vocab);
  if (rows.size() != targets.size() * static_cast<std::size_t>(vocab)) {
    fail("option_log_probs: {} logits for {} targets × vocab {}", rows.size(), targets.size(), vocab);
  }
  std::vector<double> out(targets.size());
  for (std::size_t j = 0; j < targets.size(); ++j) {
    if (targets[j] < 0 || targets[j] >= vocab) fail("option_log_probs: target {} = {}: outside [0, {})", j, targets[j], vocab);
    const float* row = rows.data() + j * static_cast<std::size_t>(vocab);
    double max = -std::numeric_limits<double>::infinity();
    for (std::int64_t v = 0; v < vocab; ++v) max = std::max(max, static_cast<double>(row[v]));
    double sum = 0.0;
    for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - max);
    out[j] = static_cast<double>(row[targets[j]]) - max - std::log(sum);
  }
  return out;
}

double candidate_score(std::span<const double> log_probs, CandidateScore score) {
  if (log_probs.empty()) fail("candidate_score: a candidate has no tokens");
  double sum = 0.0;
  for (double l : log_probs) sum += l;
  return score == CandidateScore::sum ? sum : sum / static_cast<double>(log_probs.size());
}

double lm_loss(std::span<const std::vector<double>> gold) {
  double sum = 0.0;
  std::size_t count = 0;
  for (const auto& l : gold) {
    for (double v : l) sum += v;
    count += l.size();
  }
  if (count == 0) fail("lm_loss: the batch has no option tokens");
  return -sum / static_cast<double>(count);
}

double classification_loss(std::span<const std::vector<double>> scores, std::span<const int> gold) {
  if (scores.size() != gold.size()) fail("classification_loss: {} score lists for {} gold indices", scores.size(), gold.size());
  if (scores.empty()) fail("classification_loss: empty batch");
  double total = 0.0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const auto& s = scores[i];
    if (gold[i] < 0 || static_cast<std::size_t>(gold[i]) >= s.size()) {
      fail("classification_loss: example {}: gold index {} outside [0, {})", i, gold[i], s.size());
    }
    total += classification_example_loss(s, gold[i]);
  }
  return total / static_cast<double>(scores.size());
}

double classification_example_loss(std::span<const double> s, int gold) {
  if (s.empty() || gold < 0 || static_cast<std::size_t>(gold) >= s.size())
    fail("classification_example_loss: gold index {} outside [0, {})", gold, s.size());
  const double max = *std::max_element(s.begin(), s.end());
  double sum = 0.0;
  for (double v : s) sum += std::exp(v - max);
  return -(s[static_cast<std::size_t>(gold)] - max - std::log(sum));
}

int predict(std::span<const double> scores) {
  if (scores.empty()) fail("predict: no candidates");
  std::size_t best = 0;
  for (std::size_t c = 1; c < scores.size(); ++c) {
    if (scores[c] > scores[best]) best = c;
  }
  return static_cast<int>(best);
}

}  // namespace zo::tasks
