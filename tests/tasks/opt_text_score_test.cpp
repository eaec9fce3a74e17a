// models/opt-text-proto, the OPT pretrained by scripts/pretrain.py (models/README.md), under zo's
// engine: the perplexity that zo::nn::score (what `zo score` runs) gives for held-out text equals the
// PyTorch model's within 1e-4 relative. Golden by scripts/data/make_score_golden.py: ids from Hugging
// Face tokenizers (npm @anush008/tokenizers), perplexity from scripts/nn_reference.py's opt_forward
// (HF modeling_opt.py's math) in float64.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "zo/nn/model.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = fs::path(ZO_SOURCE_DIR);
const fs::path kModel = kRoot / "models" / "opt-text-proto";

nlohmann::json golden() {
  std::ifstream in(kRoot / "tests" / "data" / "text" / "opt_text_proto_heldout_score.json");
  EXPECT_TRUE(in) << "tests/data/text/opt_text_proto_heldout_score.json";
  return nlohmann::json::parse(in);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(OptTextProto, ModelVocabularyMatchesItsTokenizer) {
  const zo::nn::ModelConfig config = zo::nn::ModelConfig::from_file(kModel / "config.json");
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(kModel / "tokenizer.json");
  EXPECT_EQ(config.vocab_size, tokenizer.vocab_size());
  EXPECT_EQ(config.vocab_size, 8192);
  EXPECT_EQ(tokenizer.token_to_id("</s>"), std::optional<std::int32_t>(2));
  EXPECT_EQ(tokenizer.token_to_id("<pad>"), std::optional<std::int32_t>(1));
}

// 2.5 M tokens of pretraining (1 200 steps x 16 x 128).
TEST(OptTextProto, ZoScoreReproducesThePyTorchHeldOutPerplexity) {
  const nlohmann::json g = golden();
  ASSERT_EQ(g.at("model").get<std::string>(), "models/opt-text-proto");
  const zo::nn::Tokenizer tokenizer = zo::nn::Tokenizer::from_file(kModel / "tokenizer.json");
  const std::vector<std::int32_t> ids = tokenizer.encode(read_file(kRoot / g.at("text").get<std::string>()), true);
  ASSERT_EQ(ids, g.at("ids").get<std::vector<std::int32_t>>()) << "zo's ids differ from Hugging Face tokenizers'";

  zo::nn::Model model = zo::nn::Model::load(kModel);
  EXPECT_EQ(model.parameter_count(), 5388288);
  zo::nn::ScoreOptions options;
  options.max_length = g.at("max_length").get<std::int64_t>();
  options.batch = 4;
  const zo::nn::ScoreResult result = zo::nn::score(model, ids, options);
  EXPECT_EQ(result.count, g.at("tokens_scored").get<std::int64_t>());
  const double expected = g.at("perplexity").get<double>();
  EXPECT_NEAR(result.perplexity, expected, 1e-4 * expected);
  EXPECT_NEAR(result.mean_loss, g.at("mean_loss").get<double>(), 1e-4);
  options.batch = 2;  // windows batched differently: the same perplexity
  EXPECT_NEAR(zo::nn::score(model, ids, options).perplexity, expected, 1e-4 * expected);
  // A pretrained model, not a random one: a uniform guess over 8 192 tokens has perplexity 8 192.
  EXPECT_LT(result.perplexity, 1000.0);
}

}  // namespace
