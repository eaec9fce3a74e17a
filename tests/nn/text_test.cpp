// score / generate (greedy) and the `zo score` / `zo generate` commands, held to goldens/text.json made
// by scripts/make_nn_goldens.py: the PyTorch reference's perplexity of a text (token ids from HF
// tokenizers' golden.json, not from zo) and its greedy continuation.
#include "zo/nn/text.hpp"

#include "zo/nn/generate.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/tokenizer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::nn::Model;

namespace {

const fs::path models_dir = fs::path(ZO_SOURCE_DIR) / "tests/data/models";

nlohmann::json text_golden() {
  nlohmann::json j;
  std::ifstream(models_dir / "goldens/text.json") >> j;
  return j;
}

// Runs a shell command, returns its stdout; fails the test on a non-zero status.
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << command;
  return out;
}

double field(const std::string& output, const std::string& name) {
  const auto at = output.find("\n" + name + " ");
  if (at == std::string::npos) return NAN;
  return std::stod(output.substr(at + name.size() + 2));
}

class TextGoldens : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(TextGoldens, PerplexityInWindowsEqualsThePyTorchReference) {
  const auto golden = text_golden();
  const std::vector<std::int32_t> ids = golden["ids"].get<std::vector<std::int32_t>>();
  Model model = Model::load(models_dir / GetParam());
  for (const auto& expected : golden["models"][GetParam()]["score"]) {
    zo::nn::ScoreOptions options;
    options.max_length = expected["max_length"].get<std::int64_t>();
    options.batch = 2;  // windows of different lengths share a padded batch
    const zo::nn::ScoreResult result = zo::nn::score(model, ids, options);
    EXPECT_EQ(result.count, expected["count"].get<std::int64_t>());
    EXPECT_NEAR(result.sum, expected["sum"].get<double>(), 1e-5 * expected["sum"].get<double>());
    EXPECT_NEAR(result.perplexity, expected["perplexity"].get<double>(), 1e-5 * expected["perplexity"].get<double>());
    EXPECT_DOUBLE_EQ(result.perplexity, std::exp(result.mean_loss));
    // The first token of every window is not scored.
    for (std::size_t i = 0; i < ids.size(); i += std::size_t(options.max_length))
      EXPECT_TRUE(std::isnan(result.token_losses[i])) << i;
  }
}

TEST_P(TextGoldens, GreedyContinuationEqualsThePyTorchReference) {
  const auto golden = text_golden();
  const auto prompt = golden["prompt_ids"].get<std::vector<std::int32_t>>();
  Model model = Model::load(models_dir / GetParam());
  zo::nn::GenerateOptions options;
  options.max_new_tokens = 8;
  EXPECT_EQ(zo::nn::generate(model, prompt, options).tokens,
            golden["models"][GetParam()]["greedy"].get<std::vector<std::int32_t>>());
}

INSTANTIATE_TEST_SUITE_P(Nn, TextGoldens, ::testing::Values("opt-tied", "llama-gqa"), [](const auto& info) {
  std::string s = info.param;
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
});

TEST(TextGenerate, StopsAtTheStopToken) {
  const auto golden = text_golden();
  const auto prompt = golden["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto greedy = golden["models"]["opt-tied"]["greedy"].get<std::vector<std::int32_t>>();
  Model model = Model::load(models_dir / "opt-tied");
  zo::nn::GenerateOptions options;
  options.max_new_tokens = 8;
  options.stop_id = greedy[1];
  const zo::nn::GenerateResult result = zo::nn::generate(model, prompt, options);
  EXPECT_EQ(result.stop, zo::nn::StopReason::stop_token);
  EXPECT_EQ(result.tokens, std::vector<std::int32_t>(greedy.begin(), greedy.begin() + 2));
}

TEST(TextScore, BadOptionsAndShortInputsAreErrors) {
  Model model = Model::load(models_dir / "opt-tied");
  const std::vector<std::int32_t> one = {2}, two = {2, 5};
  EXPECT_THROW(zo::nn::score(model, one), zo::Error);
  zo::nn::ScoreOptions bad;
  bad.batch = 0;
  EXPECT_THROW(zo::nn::score(model, two, bad), zo::Error);
  bad.batch = 1;
  bad.max_length = 1;
  EXPECT_THROW(zo::nn::score(model, two, bad), zo::Error);
  zo::nn::GenerateOptions negative;
  negative.max_new_tokens = -1;
  EXPECT_THROW(zo::nn::generate(model, two, negative), zo::Error);
}

TEST(TextCommands, ZoScorePrintsThePerplexityOfTheReference) {
  const fs::path zo = fs::path(ZO_BINARY_DIR) / "zo";
  if (!fs::exists(zo)) GTEST_SKIP() << zo << " not built";
  const auto golden = text_golden();
  // zo's tokenizer must give the same ids as HF tokenizers did for this text.
  const auto tokenizer = zo::nn::Tokenizer::from_file(models_dir / "opt-tied/tokenizer.json");
  ASSERT_EQ(tokenizer.encode(golden["text"].get<std::string>()), golden["ids"].get<std::vector<std::int32_t>>());
  const fs::path text = fs::temp_directory_path() / ("zo_score_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(text, std::ios::binary) << golden["text"].get<std::string>();
  const std::string out = run(zo.string() + " score --model " + (models_dir / "opt-tied").string() + " --text " +
                              text.string() + " --max-length 16 --batch 2");
  fs::remove(text);
  const auto& expected = golden["models"]["opt-tied"]["score"][0];
  ASSERT_EQ(expected["max_length"].get<int>(), 16);
  EXPECT_EQ(field(out, "tokens_scored"), expected["count"].get<double>()) << out;
  EXPECT_NEAR(field(out, "perplexity"), expected["perplexity"].get<double>(), 1e-5 * expected["perplexity"].get<double>())
      << out;
}

TEST(TextCommands, ZoGenerateContinuesThePromptGreedily) {
  const fs::path zo = fs::path(ZO_BINARY_DIR) / "zo";
  if (!fs::exists(zo)) GTEST_SKIP() << zo << " not built";
  const auto golden = text_golden();
  const std::string out = run(zo.string() + " generate --model " + (models_dir / "opt-tied").string() +
                              " --prompt '" + golden["prompt"].get<std::string>() +
                              "' --max-new-tokens 8 --ignore-eos --ids");
  std::string expected = "generated_ids";
  for (int id : golden["models"]["opt-tied"]["greedy"]) expected += " " + std::to_string(id);
  EXPECT_NE(out.find(expected + "\n"), std::string::npos) << out;
}

TEST(TokenizerFit, AModelSmallerThanItsTokenizerIsAnErrorNamingBothFiles) {
  const Model model = Model::load(models_dir / "opt-tied");  // vocab_size 1024
  const fs::path gpt2 = fs::path(ZO_SOURCE_DIR) / "tests/data/tokenizers/gpt2/tokenizer.json";  // 50 257 tokens
  const auto tokenizer = zo::nn::Tokenizer::from_file(gpt2);
  try {
    zo::nn::check_tokenizer_fits(model, tokenizer, models_dir / "opt-tied", gpt2);
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("gpt2/tokenizer.json"), std::string::npos) << message;
    EXPECT_NE(message.find("opt-tied"), std::string::npos) << message;
    EXPECT_NE(message.find("50257"), std::string::npos) << message;
    EXPECT_NE(message.find("1024"), std::string::npos) << message;
  }
}

TEST(TokenizerFit, TheModelsOwnTokenizerFits) {
  const Model model = Model::load(models_dir / "opt-tied");
  const fs::path own = models_dir / "opt-tied/tokenizer.json";
  EXPECT_NO_THROW(zo::nn::check_tokenizer_fits(model, zo::nn::Tokenizer::from_file(own), models_dir / "opt-tied", own));
}

TEST(TokenizerFit, ZoScoreRefusesAForeignTokenizer) {
  const std::string zo = std::string(ZO_BINARY_DIR) + "/zo";
  if (!fs::exists(zo)) GTEST_SKIP() << zo << " not built";
  const std::string command = zo + " score --model " + (models_dir / "opt-tied").string() + " --tokenizer " +
                              (fs::path(ZO_SOURCE_DIR) / "tests/data/tokenizers/gpt2/tokenizer.json").string() +
                              " --text " + (fs::path(ZO_SOURCE_DIR) / "README.md").string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  EXPECT_NE(::pclose(pipe), 0) << out;
  EXPECT_NE(out.find("does not belong"), std::string::npos) << out;
}
