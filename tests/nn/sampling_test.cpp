// Token choice (include/zo/nn/sampling.hpp): greedy, temperature, top-k and top-p held to
// distributions computed by hand; the Philox draws; the same seed giving the same text through
// zo::nn::generate, and top-k 1 giving greedy's.
#include "zo/nn/sampling.hpp"

#include "zo/nn/generate.hpp"
#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

using zo::nn::SamplingOptions;

namespace {

const std::filesystem::path models_dir = std::filesystem::path(ZO_SOURCE_DIR) / "tests/data/models";

// Five tokens whose probabilities at temperature 1 are (by id) 0.1, 0.5, 0.05, 0.2, 0.15.
const std::vector<float> logits = {std::log(0.1f), std::log(0.5f), std::log(0.05f), std::log(0.2f), std::log(0.15f)};

SamplingOptions sampled(double temperature, std::int64_t top_k = 0, double top_p = 1.0, std::uint64_t seed = 0) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.seed = seed;
  return o;
}

void expect_distribution(const std::vector<std::pair<std::int32_t, double>>& got,
                         const std::vector<std::pair<std::int32_t, double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << i;
    EXPECT_NEAR(got[i].second, want[i].second, 1e-6) << i;
  }
}

}  // namespace

TEST(Sampling, GreedyIsTheArgmaxWithTheLowestIdOnATie) {
  expect_distribution(zo::nn::sampling_distribution(logits, {}), {{1, 1.0}});
  const std::vector<float> tie = {0.0f, 2.0f, 2.0f, 1.0f};
  EXPECT_EQ(zo::nn::sample_token(tie, {}, 0), 1);
  EXPECT_EQ(zo::nn::sample_token(tie, sampled(1.0, 1), 7), 1);  // top-k 1: the same token
}

TEST(Sampling, TemperatureOneIsTheSoftmaxInRankOrder) {
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0)),
                      {{1, 0.5}, {3, 0.2}, {4, 0.15}, {0, 0.1}, {2, 0.05}});
}

TEST(Sampling, TemperatureScalesTheLogits) {
  // τ = 2: p ∝ exp(log q / 2) = √q.
  const double s = std::sqrt(0.5) + std::sqrt(0.2) + std::sqrt(0.15) + std::sqrt(0.1) + std::sqrt(0.05);
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(2.0)),
                      {{1, std::sqrt(0.5) / s}, {3, std::sqrt(0.2) / s}, {4, std::sqrt(0.15) / s},
                       {0, std::sqrt(0.1) / s}, {2, std::sqrt(0.05) / s}});
}

TEST(Sampling, TopPKeepsTheFewestTokensReachingP) {
  // Cumulative in rank order: 0.5, 0.7, 0.85, 0.95, 1.
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 0, 0.8)),
                      {{1, 0.5 / 0.85}, {3, 0.2 / 0.85}, {4, 0.15 / 0.85}});
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 0, 0.4)), {{1, 1.0}});
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 0, 0.9)),
                      {{1, 0.5 / 0.95}, {3, 0.2 / 0.95}, {4, 0.15 / 0.95}, {0, 0.1 / 0.95}});
}

TEST(Sampling, TopKThenTopPOnTheRenormalisedTopK) {
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 3)),
                      {{1, 0.5 / 0.85}, {3, 0.2 / 0.85}, {4, 0.15 / 0.85}});
  // Top 2 renormalised: 0.714…, 0.286…; p = 0.7 keeps the first only, p = 0.75 both.
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 2, 0.7)), {{1, 1.0}});
  expect_distribution(zo::nn::sampling_distribution(logits, sampled(1.0, 2, 0.75)), {{1, 0.5 / 0.7}, {3, 0.2 / 0.7}});
  // k beyond the vocabulary keeps all.
  EXPECT_EQ(zo::nn::sampling_distribution(logits, sampled(1.0, 100)).size(), 5u);
}

TEST(Sampling, DrawsAreReproducibleUniformAndFollowTheDistribution) {
  EXPECT_EQ(zo::nn::sampling_uniform(42, 7), zo::nn::sampling_uniform(42, 7));
  EXPECT_NE(zo::nn::sampling_uniform(42, 7), zo::nn::sampling_uniform(42, 8));
  EXPECT_NE(zo::nn::sampling_uniform(42, 7), zo::nn::sampling_uniform(43, 7));
  std::map<std::int32_t, int> counts;
  const int n = 20000;
  double mean = 0.0;
  for (int step = 0; step < n; ++step) {
    const double u = zo::nn::sampling_uniform(5, std::uint64_t(step));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    mean += u / n;
    ++counts[zo::nn::sample_token(logits, sampled(1.0, 0, 1.0, 5), std::uint64_t(step))];
  }
  EXPECT_NEAR(mean, 0.5, 0.01);
  // Frequencies within 5 standard deviations of the probabilities.
  const std::map<std::int32_t, double> p = {{0, 0.1}, {1, 0.5}, {2, 0.05}, {3, 0.2}, {4, 0.15}};
  for (const auto& [id, prob] : p)
    EXPECT_NEAR(double(counts[id]) / n, prob, 5 * std::sqrt(prob * (1 - prob) / n)) << id;
}

TEST(Sampling, ValidationNamesTheOptionValueAndRule) {
  auto message = [](const SamplingOptions& o) {
    try {
      o.validate();
    } catch (const zo::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message(sampled(-1.0)), "option 'temperature' = -1: must be a finite number >= 0 (0 = greedy)");
  EXPECT_NE(message(sampled(NAN)).find("option 'temperature' = nan"), std::string::npos);
  EXPECT_EQ(message(sampled(1.0, -2)), "option 'top-k' = -2: must be >= 0 (0 = no top-k filter)");
  EXPECT_EQ(message(sampled(1.0, 0, 0.0)), "option 'top-p' = 0: must be in (0, 1] (1 = no top-p filter)");
  EXPECT_EQ(message(sampled(1.0, 0, 1.5)), "option 'top-p' = 1.5: must be in (0, 1] (1 = no top-p filter)");
  EXPECT_EQ(message(sampled(0.7, 50, 0.9, 3)), "");
  EXPECT_THROW(zo::nn::sample_token({}, sampled(1.0), 0), zo::Error);
}

TEST(SampledGeneration, TheSameSeedGivesTheSameTokensAndTopKOneIsGreedy) {
  zo::nn::Model model = zo::nn::Model::load(models_dir / "llama-gqa");
  const std::vector<std::int32_t> prompt = {1, 17, 300, 42, 9};
  zo::nn::GenerateOptions options;
  options.max_new_tokens = 30;
  const auto greedy = zo::nn::generate(model, prompt, options).tokens;
  options.sampling = sampled(1.0, 0, 0.95, 11);
  const auto a = zo::nn::generate(model, prompt, options).tokens;
  const auto b = zo::nn::generate(model, prompt, options).tokens;
  EXPECT_EQ(a, b);
  options.no_kv_cache = true;  // the draws do not depend on the path
  EXPECT_EQ(zo::nn::generate(model, prompt, options).tokens, a);
  options.no_kv_cache = false;
  options.sampling.seed = 12;
  EXPECT_NE(zo::nn::generate(model, prompt, options).tokens, a);
  EXPECT_NE(a, greedy);
  options.sampling = sampled(1.5, 1, 1.0, 99);
  EXPECT_EQ(zo::nn::generate(model, prompt, options).tokens, greedy);
}
