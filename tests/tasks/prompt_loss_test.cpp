// Reference values are closed forms: with logits (0, ln 3) the softmax is (1/4, 3/4).
#include "zo/tasks/prompt_loss.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

TEST(OptionLogProbs, IsTheLogSoftmaxAtEachTarget) {
  const float l3 = static_cast<float>(std::log(3.0));
  const std::vector<float> rows{0.0f, l3, 0.0f, 0.0f, 0.0f, 0.0f};  // row 0: (0, ln3, 0); row 1: uniform
  const std::vector<std::int32_t> targets{1, 2};
  const auto lp = zo::tasks::option_log_probs(rows, 3, targets);
  ASSERT_EQ(lp.size(), 2u);
  EXPECT_NEAR(lp[0], double(l3) - std::log(2.0 + 3.0), 1e-7);
  EXPECT_NEAR(lp[1], -std::log(3.0), 1e-12);
}

TEST(OptionLogProbs, IsStableForLargeLogits) {
  const std::vector<float> rows{1000.0f, 1000.0f};
  const std::vector<std::int32_t> t{0};
  EXPECT_NEAR(zo::tasks::option_log_probs(rows, 2, t)[0], -std::log(2.0), 1e-12);
}

TEST(OptionLogProbs, RejectsMismatchedSizesAndOutOfRangeTargets) {
  const std::vector<float> rows(6, 0.0f);
  const std::vector<std::int32_t> one{1}, bad{0, 3};
  EXPECT_THROW(zo::tasks::option_log_probs(rows, 3, one), zo::Error);
  EXPECT_THROW(zo::tasks::option_log_probs(rows, 3, bad), zo::Error);
}

TEST(PromptLosses, LmLossAveragesOverEveryOptionTokenOfTheBatch) {
  // −(−1 −2 −3)/3 = 2, not the mean of per-example means (1.5 and 3 → 2.25).
  const std::vector<std::vector<double>> gold{{-1.0, -2.0}, {-3.0}};
  EXPECT_DOUBLE_EQ(zo::tasks::lm_loss(gold), 2.0);
  EXPECT_THROW(zo::tasks::lm_loss(std::vector<std::vector<double>>{{}}), zo::Error);
}

TEST(PromptLosses, ClassificationLossIsCrossEntropyOverCandidateScores) {
  const std::vector<std::vector<double>> scores{{0.0, std::log(3.0)}, {0.0, 0.0, 0.0}};
  const std::vector<int> gold{0, 2};
  const double expected = (std::log(4.0) + std::log(3.0)) / 2.0;
  EXPECT_NEAR(zo::tasks::classification_loss(scores, gold), expected, 1e-12);
  const std::vector<int> out_of_range{0, 3};
  EXPECT_THROW(zo::tasks::classification_loss(scores, out_of_range), zo::Error);
  const std::vector<int> short_gold{0};
  EXPECT_THROW(zo::tasks::classification_loss(scores, short_gold), zo::Error);
  // The batch loss is the examples' terms summed in order over their count, bit for bit.
  const double terms = zo::tasks::classification_example_loss(scores[0], 0) + zo::tasks::classification_example_loss(scores[1], 2);
  EXPECT_EQ(zo::tasks::classification_loss(scores, gold), terms / 2.0);
  EXPECT_THROW(zo::tasks::classification_example_loss(scores[0], 2), zo::Error);
}

TEST(PromptLosses, CandidateScoreIsTheMeanOrSumAndPredictTakesTheFirstMaximum) {
  const std::vector<double> lp{-1.0, -3.0};
  EXPECT_DOUBLE_EQ(zo::tasks::candidate_score(lp, zo::tasks::CandidateScore::mean), -2.0);
  EXPECT_DOUBLE_EQ(zo::tasks::candidate_score(lp, zo::tasks::CandidateScore::sum), -4.0);
  EXPECT_THROW(zo::tasks::candidate_score(std::vector<double>{}, zo::tasks::CandidateScore::mean), zo::Error);
  EXPECT_EQ(zo::tasks::predict(std::vector<double>{-2.0, -1.0, -1.0}), 1);
  EXPECT_THROW(zo::tasks::predict(std::vector<double>{}), zo::Error);
}

TEST(PromptLosses, NamesRoundTrip) {
  EXPECT_EQ(zo::tasks::prompt_loss_from_string("classification"), zo::tasks::PromptLoss::classification);
  EXPECT_EQ(zo::tasks::to_string(zo::tasks::PromptLoss::lm), "lm");
  EXPECT_EQ(zo::tasks::candidate_score_from_string("sum"), zo::tasks::CandidateScore::sum);
  EXPECT_THROW(zo::tasks::prompt_loss_from_string("ce"), zo::Error);
  EXPECT_THROW(zo::tasks::candidate_score_from_string("max"), zo::Error);
}

}  // namespace
