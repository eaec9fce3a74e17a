// PromptObjective against PyTorch: tests/data/prompt_goldens/<model>.json holds token ids (prompt +
// each candidate's option tokens, gold index) and the losses, candidate scores and evaluation that
// scripts/make_prompt_goldens.py computed from them with scripts/nn_reference.py's forward in float64,
// every candidate sequence alone. zo runs the same ids through its float32 engine, batched and
// right-padded, one-token candidates sharing a prompt scored from one sequence.
//
// Tolerance: |zo − golden| <= 1e-5 · max(1, |golden|). zo's logits are float32 (magnitude ~10), so a
// log-probability carries ~1e-6 of rounding: the same reference run in float32, in zo's padded batch
// layout, lies at most 2e-6 from the float64 values (the golden's
// float32_padded_max_abs_log_prob_deviation). The losses, scores and margin are means of such terms,
// or a softmax cross-entropy over them (derivative <= 1), so their error stays a few 1e-6 (sum scores
// add n such errors to a value of magnitude ~5n, hence the relative form); 1e-5 leaves a factor ~3,
// while a wrong target token, an off-by-one position or a wrong normalisation moves them by 1e-2 or
// more. Accuracies are exact: the script checks that every prediction wins by > 1e-3.
#include "zo/train/prompt_objective.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

const std::string kRoot = std::string(ZO_SOURCE_DIR) + "/tests/data/";

json golden_of(const std::string& name) {
  std::ifstream in(kRoot + "prompt_goldens/" + name + ".json");
  if (!in) throw std::runtime_error("cannot read prompt_goldens/" + name + ".json");
  return json::parse(in);
}

std::vector<zo::tasks::EncodedExample> examples_of(const json& golden) {
  std::vector<zo::tasks::EncodedExample> out;
  for (const json& e : golden.at("examples")) {
    out.push_back({.sequences = e.at("sequences").get<std::vector<std::vector<std::int32_t>>>(),
                   .option_lengths = e.at("option_lengths").get<std::vector<std::int32_t>>(),
                   .gold = e.at("gold").get<int>(),
                   .where = "golden:" + std::to_string(out.size())});
  }
  return out;
}

// Worst deviation seen by a test, printed at its end.
struct Deviation {
  double abs = 0.0, rel = 0.0;
  int compared = 0;
  ~Deviation() {
    if (compared > 0) std::printf("  %d values, max |zo - PyTorch| %.3g (relative %.3g)\n", compared, abs, rel);
  }
};

// Expects |actual − expected| <= 1e-5 · max(1, |expected|) and records the deviation.
void expect_close(double actual, double expected, Deviation& d, const std::string& what) {
  const double diff = std::fabs(actual - expected);
  ++d.compared;
  d.abs = std::max(d.abs, diff);
  d.rel = std::max(d.rel, diff / std::max(1e-300, std::fabs(expected)));
  EXPECT_LE(diff, 1e-5 * std::max(1.0, std::fabs(expected))) << what << ": zo " << actual << ", PyTorch " << expected;
}

class PromptGolden : public ::testing::TestWithParam<std::string> {
 protected:
  json golden = golden_of(GetParam());
  zo::nn::Model model = zo::nn::Model::load(kRoot + "models/" + GetParam());
  std::vector<zo::tasks::EncodedExample> examples = examples_of(golden);
  Deviation deviation;
};

// Every candidate's mean score s_c, read as the lm loss of a one-example set whose gold is c: through
// the training loss (the candidate's own sequence) and through evaluate() (all candidates, one-token
// candidates sharing a prompt read from one sequence). The sum score is s_c · n_c.
TEST_P(PromptGolden, CandidateScoresMatch) {
  ASSERT_EQ(examples.size(), golden.at("examples").size());
  const std::vector<std::size_t> first{0};
  for (std::size_t e = 0; e < examples.size(); ++e) {
    const json& g = golden.at("examples")[e];
    for (std::size_t c = 0; c < examples[e].sequences.size(); ++c) {
      zo::tasks::EncodedExample one = examples[e];
      one.gold = int(c);
      zo::PromptObjective obj(model, {one}, {one}, {.loss = zo::tasks::PromptLoss::lm});
      const std::string what = "example " + std::to_string(e) + " candidate " + std::to_string(c);
      const double mean = g.at("mean")[c].get<double>(), sum = g.at("sum")[c].get<double>();
      const double n = double(one.option_lengths[c]);
      const double trained = -obj.loss(first);
      expect_close(trained, mean, deviation, what + " mean (loss)");
      expect_close(trained * n, sum, deviation, what + " sum (loss)");
      const double evaluated = -obj.evaluate().loss;
      expect_close(evaluated, mean, deviation, what + " mean (evaluate)");
      expect_close(evaluated * n, sum, deviation, what + " sum (evaluate)");
    }
  }
}

TEST_P(PromptGolden, TrainingLossesMatch) {
  zo::PromptObjective lm(model, examples, {}, {.loss = zo::tasks::PromptLoss::lm});
  zo::PromptObjective cls(model, examples, {}, {.loss = zo::tasks::PromptLoss::classification});
  for (const json& b : golden.at("batches")) {
    const auto batch = b.at("examples").get<std::vector<std::size_t>>();
    const std::string what = "batch " + b.at("examples").dump();
    expect_close(lm.loss(batch), b.at("lm").get<double>(), deviation, what + " lm");
    expect_close(cls.loss(batch), b.at("classification").get<double>(), deviation, what + " classification");
  }
  // The shared-prefix path (layers below 1 computed once, the rest from the kept residual stream).
  const auto& blocks = cls.params().blocks();
  const auto layer1 = std::find_if(blocks.begin(), blocks.end(), [](const auto& b) { return b.name == "layers.1"; });
  ASSERT_NE(layer1, blocks.end());
  const json& b = golden.at("batches")[0];
  const auto batch = b.at("examples").get<std::vector<std::size_t>>();
  cls.begin_step(batch, std::vector<std::uint32_t>{std::uint32_t(layer1 - blocks.begin())});
  for (int i = 0; i < 2; ++i) expect_close(cls.loss(batch), b.at("classification").get<double>(), deviation, "shared prefix");
}

TEST_P(PromptGolden, EvaluationMatchesForBothScoresAndLosses) {
  const json& ev = golden.at("evaluate");
  for (const auto score : {zo::tasks::CandidateScore::mean, zo::tasks::CandidateScore::sum}) {
    const json& g = ev.at(std::string(zo::tasks::to_string(score)));
    for (const auto loss : {zo::tasks::PromptLoss::lm, zo::tasks::PromptLoss::classification}) {
      for (const std::int64_t eval_batch : {1, 3, 64}) {
        zo::PromptObjective obj(model, examples, examples, {.loss = loss, .score = score, .eval_batch = eval_batch});
        const zo::Evaluation out = obj.evaluate();
        const std::string what = std::string(zo::tasks::to_string(score)) + " score, " + std::string(zo::tasks::to_string(loss)) +
                                 " loss, eval_batch " + std::to_string(eval_batch);
        EXPECT_EQ(out.examples, std::int64_t(examples.size())) << what;
        EXPECT_DOUBLE_EQ(out.accuracy, g.at("accuracy").get<double>()) << what;
        EXPECT_NEAR(out.balanced_accuracy, g.at("balanced_accuracy").get<double>(), 1e-12) << what;
        expect_close(out.margin, g.at("margin").get<double>(), deviation, what + " margin");
        const double expected = ev.at(loss == zo::tasks::PromptLoss::lm ? "lm_loss" : "classification_loss").get<double>();
        expect_close(out.loss, expected, deviation, what + " loss");
      }
    }
  }
}

// The goldens were made to tell the scores apart: somewhere mean and sum predict differently.
TEST_P(PromptGolden, TheGoldenSeparatesMeanFromSumScores) {
  const json& ev = golden.at("evaluate");
  EXPECT_NE(ev.at("mean").at("predictions"), ev.at("sum").at("predictions"));
  EXPECT_LT(golden.at("float32_padded_max_abs_log_prob_deviation").get<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Models, PromptGolden, ::testing::Values("opt-tied", "llama-gqa"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
