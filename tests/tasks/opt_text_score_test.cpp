// models/opt-text, the OPT pretrained by scripts/pretrain.py, under zo's engine: the perplexity that
// zo::nn::score (what `zo score` runs) gives for held-out text equals the PyTorch model's within 1e-4
// relative. Goldens by scripts/data/make_score_golden.py: ids from Hugging Face tokenizers (npm
// @anush008/tokenizers), perplexity from scripts/nn_reference.py's opt_forward (HF modeling_opt.py's
// math) in float64; and by scripts/make_hf_goldens.py: Hugging Face transformers' own perplexity of
// the same ids (float64, run on the lent GPU machine's CPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "zo/nn/model.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = fs::path(ZO_SOURCE_DIR);
const fs::path kModel = kRoot / "models" / "opt-text";

nlohmann::json golden(const std::string& name = "opt_text_heldout_score.json") {
  std::ifstream in(kRoot / "tests" / "data" / "text" / name);
  EXPECT_TRUE(in) << "tests/data/text/" << name;
  return nlohmann::json::parse(in);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// zo::nn::score of `ids` under `model_dir` in the golden's windows: the golden's count of scored
// tokens, and its perplexity within 1e-4 relative.
zo::nn::ScoreResult expect_golden_perplexity(const nlohmann::json& g, const std::vector<std::int32_t>& ids, std::int64_t batch,
                                             const fs::path& model_dir = kModel) {
  zo::nn::Model model = zo::nn::Model::load(model_dir);
  EXPECT_EQ(model.parameter_count(), 5388288);
  zo::nn::ScoreOptions options;
  options.max_length = g.at("max_length").get<std::int64_t>();
  options.batch = batch;
  const zo::nn::ScoreResult result = zo::nn::score(model, ids, options);
  EXPECT_EQ(result.count, g.at("tokens_scored").get<std::int64_t>());
  const double expected = g.at("perplexity").get<double>();
  EXPECT_NEAR(result.perplexity, expected, 1e-4 * expected);
  return result;
}

TEST(OptText, ModelVocabularyMatchesItsTokenizer) {
  const zo::nn::ModelConfig config = zo::nn::ModelConfig::from_file(kModel / "config.json");
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(kModel / "tokenizer.json");
  EXPECT_EQ(config.vocab_size, tokenizer.vocab_size());
  EXPECT_EQ(config.vocab_size, 8192);
  EXPECT_EQ(tokenizer.token_to_id("</s>"), std::optional<std::int32_t>(2));
  EXPECT_EQ(tokenizer.token_to_id("<pad>"), std::optional<std::int32_t>(1));
}

TEST(OptText, ZoScoreReproducesThePyTorchHeldOutPerplexity) {
  const nlohmann::json g = golden();
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(kModel / "tokenizer.json");
  const std::vector<std::int32_t> ids = tokenizer.encode(read_file(kRoot / g.at("text").get<std::string>()), true);
  ASSERT_EQ(ids, g.at("ids").get<std::vector<std::int32_t>>()) << "zo's ids differ from Hugging Face tokenizers'";

  const zo::nn::ScoreResult result = expect_golden_perplexity(g, ids, 4);
  EXPECT_NEAR(result.mean_loss, g.at("mean_loss").get<double>(), 1e-4);
  // A pretrained model, not a random one: a uniform guess over 8 192 tokens has perplexity 8 192.
  EXPECT_LT(result.perplexity, 2000.0);
}

TEST(OptText, ZoScoreReproducesTransformersHeldOutPerplexity) {
  const nlohmann::json g = golden("opt_text_heldout_score_hf.json");
  ASSERT_NE(g.at("reference").get<std::string>().find("transformers 5."), std::string::npos);
  const std::vector<std::int32_t> ids = g.at("ids").get<std::vector<std::int32_t>>();
  ASSERT_EQ(ids, golden().at("ids").get<std::vector<std::int32_t>>()) << "the two goldens score different ids";
  expect_golden_perplexity(g, ids, 2);
}

// models/opt-text-gpu and models/opt-text-proto: the same architecture pretrained longer on a lent GPU
// (docs/text-tasks.md). Their goldens are the same reference's (scripts/data/make_score_golden.py
// --model NAME) on the same ids; the more tokens a model was pretrained on, the lower its perplexity.
void expect_gpu_model_scores_like_reference(const std::string& name, double max_ratio_to_opt_text) {
  const fs::path dir = kRoot / "models" / name;
  std::string file = name + "_heldout_score.json";
  for (char& c : file) c = c == '-' ? '_' : c;
  const nlohmann::json g = golden(file);
  ASSERT_EQ(g.at("model").get<std::string>(), "models/" + name);
  const std::vector<std::int32_t> ids = g.at("ids").get<std::vector<std::int32_t>>();
  ASSERT_EQ(ids, golden().at("ids").get<std::vector<std::int32_t>>());
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(dir / "tokenizer.json");
  EXPECT_EQ(zo::nn::Model::load(dir).config().vocab_size, tokenizer.vocab_size());
  const zo::nn::ScoreResult result = expect_golden_perplexity(g, ids, 4, dir);
  EXPECT_LT(result.perplexity, max_ratio_to_opt_text * golden().at("perplexity").get<double>());
}

// 16.4 M tokens (4 000 x 32 x 128).
TEST(OptText, GpuPretrainedModelScoresLikeThePyTorchReferenceAndBetterThanOptText) {
  expect_gpu_model_scores_like_reference("opt-text-gpu", 0.7);
}

// 2.5 M tokens (1 200 x 16 x 128, the prototype budget), against opt-text's 0.8 M.
TEST(OptText, PrototypeBudgetModelScoresLikeThePyTorchReferenceAndBetterThanOptText) {
  expect_gpu_model_scores_like_reference("opt-text-proto", 0.8);
}

}  // namespace
