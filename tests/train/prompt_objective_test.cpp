// PromptObjective against an independent path: the full logits of Model::forward, sliced by hand at
// the positions that predict the option tokens, through option_log_probs.
#include "zo/train/prompt_objective.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace {

const std::string kModel = std::string(ZO_SOURCE_DIR) + "/tests/data/models/opt-tied";

std::vector<zo::tasks::EncodedExample> examples() {
  return {{.sequences = {{2, 10, 11, 12, 50}, {2, 10, 11, 12, 60, 61}}, .option_lengths = {1, 2}, .gold = 1, .where = "a:1"},
          {.sequences = {{2, 20, 21, 70}, {2, 20, 21, 80}, {2, 20, 21, 90, 91, 92}}, .option_lengths = {1, 1, 3}, .gold = 0, .where = "a:2"}};
}

// ℓ of the last n tokens of `seq` from the full logits.
std::vector<double> reference_log_probs(zo::nn::Model& model, const std::vector<std::int32_t>& seq, int n) {
  const std::int64_t T = std::int64_t(seq.size()), V = model.config().vocab_size;
  const auto logits = model.forward({.B = 1, .T = T, .tokens = seq, .mask = {}});
  std::vector<float> rows(logits.begin() + (T - 1 - n) * V, logits.begin() + (T - 1) * V);
  std::vector<std::int32_t> targets(seq.end() - n, seq.end());
  return zo::tasks::option_log_probs(rows, V, targets);
}

TEST(PromptObjective, LmLossIsTheTokenMeanCrossEntropyOfTheGoldOptions) {
  auto model = zo::nn::Model::load(kModel);
  zo::PromptObjective obj(model, examples(), examples(), {.loss = zo::tasks::PromptLoss::lm});
  const auto ex = examples();
  std::vector<std::vector<double>> gold;
  for (const auto& e : ex) gold.push_back(reference_log_probs(model, e.sequences[std::size_t(e.gold)], e.option_lengths[std::size_t(e.gold)]));
  const std::vector<std::size_t> batch{0, 1};
  EXPECT_NEAR(obj.loss(batch), zo::tasks::lm_loss(gold), 1e-5);
}

TEST(PromptObjective, ClassificationLossAndEvaluationUseEveryCandidate) {
  auto model = zo::nn::Model::load(kModel);
  zo::PromptObjective obj(model, examples(), examples(), {.loss = zo::tasks::PromptLoss::classification, .eval_batch = 2});
  const auto ex = examples();
  std::vector<std::vector<double>> means, sums;
  std::vector<int> gold;
  int correct = 0;
  std::map<int, std::pair<int, int>> per_class;  // gold -> (correct, total)
  for (const auto& e : ex) {
    std::vector<double> m, s;
    for (std::size_t c = 0; c < e.sequences.size(); ++c) {
      const auto lp = reference_log_probs(model, e.sequences[c], e.option_lengths[c]);
      m.push_back(zo::tasks::candidate_score(lp, zo::tasks::CandidateScore::mean));
    }
    correct += zo::tasks::predict(m) == e.gold;
    per_class[e.gold].first += zo::tasks::predict(m) == e.gold;
    ++per_class[e.gold].second;
    means.push_back(m);
    gold.push_back(e.gold);
  }
  const std::vector<std::size_t> batch{0, 1};
  EXPECT_NEAR(obj.loss(batch), zo::tasks::classification_loss(means, gold), 1e-5);
  // Example a:2's one-token candidates 70 and 80 share their prompt: one sequence scores both
  // (2 + 2 sequences, not 2 + 3).
  EXPECT_EQ(obj.sequences(), 4);
  const auto eval = obj.evaluate();
  EXPECT_EQ(obj.sequences(), 8);
  EXPECT_EQ(eval.examples, 2);
  EXPECT_DOUBLE_EQ(eval.accuracy, correct / 2.0);
  EXPECT_NEAR(eval.loss, zo::tasks::classification_loss(means, gold), 1e-5);
  double margin = 0.0;
  for (std::size_t e = 0; e < means.size(); ++e) {
    double other = -INFINITY;
    for (std::size_t c = 0; c < means[e].size(); ++c)
      if (int(c) != gold[e]) other = std::max(other, means[e][c]);
    margin += (means[e][std::size_t(gold[e])] - other) / 2.0;
  }
  EXPECT_NEAR(eval.margin, margin, 1e-5);
  double recall = 0.0;
  for (const auto& [g, c] : per_class) recall += double(c.first) / c.second;
  EXPECT_DOUBLE_EQ(eval.balanced_accuracy, recall / double(per_class.size()));
}

// One question asked three times, gold 1 once and gold 0 twice: whichever answer the model gives,
// it gets exactly one class right, so balanced accuracy is 1/2 while accuracy is 1/3 or 2/3.
TEST(PromptObjective, BalancedAccuracyWeighsEachClassEquallyOnAnImbalancedSet) {
  auto model = zo::nn::Model::load(kModel);
  zo::tasks::EncodedExample one = examples()[0], zero = one;
  zero.gold = 0;
  zo::PromptObjective obj(model, {one}, {one, zero, zero}, {.loss = zo::tasks::PromptLoss::classification});
  const auto eval = obj.evaluate();
  EXPECT_DOUBLE_EQ(eval.balanced_accuracy, 0.5);
  EXPECT_TRUE(std::fabs(eval.accuracy - 1.0 / 3.0) < 1e-12 || std::fabs(eval.accuracy - 2.0 / 3.0) < 1e-12) << eval.accuracy;
}

TEST(PromptObjective, TheSharedPrefixAndUntrainedLoraChangeNoLossBit) {
  auto model = zo::nn::Model::load(kModel);
  const std::vector<std::size_t> batch{1, 0};
  zo::PromptObjective plain(model, examples(), {}, {.loss = zo::tasks::PromptLoss::classification});
  const double reference = plain.loss(batch);
  zo::PromptObjective prefix(model, examples(), {}, {.loss = zo::tasks::PromptLoss::classification});
  const auto& blocks = prefix.params().blocks();
  std::uint32_t layer1 = 0;
  for (std::uint32_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].name == "layers.1") layer1 = b;
  }
  ASSERT_EQ(blocks[layer1].name, "layers.1");
  prefix.begin_step(batch, std::vector<std::uint32_t>{layer1});
  EXPECT_EQ(prefix.loss(batch), reference);
  EXPECT_EQ(prefix.loss(batch), reference);  // second evaluation from the kept hidden states

  zo::ParamSet params = model.params();
  zo::LoraAdapters lora(params, {});
  zo::PromptObjective adapted(model, examples(), {}, {.loss = zo::tasks::PromptLoss::classification}, &lora);
  EXPECT_EQ(adapted.loss(batch), reference);
  EXPECT_EQ(adapted.params().numel(), lora.params().numel());
}

TEST(PromptObjective, RejectsEmptyTrainingSetsAndGoldOutOfRange) {
  auto model = zo::nn::Model::load(kModel);
  EXPECT_THROW(zo::PromptObjective(model, {}, {}, {}), zo::Error);
  auto bad = examples();
  bad[1].gold = 3;
  EXPECT_THROW(zo::PromptObjective(model, bad, {}, {}), zo::Error);
  EXPECT_THROW(zo::PromptObjective(model, examples(), {}, {.eval_batch = 0}), zo::Error);
}

}  // namespace
