// `zo generate` as a user runs it: the text on stdout as tokens come (equal to the whole decode), the
// position limit said on stderr or refused up front, every generation option validated with a message
// naming the flag, the value and the rule (exit 2), and the same seed giving the same text.
#include "../test_util.hpp"

#include "zo/nn/tokenizer.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::string kZo = std::string(ZO_BINARY_DIR) + "/zo";
const std::string kModel = std::string(ZO_SOURCE_DIR) + "/tests/data/models/opt-tied";  // 64 positions

struct Result {
  int status = -1;
  std::string out, err;
};

Result generate(const std::vector<std::string>& args) {
  const fs::path dir = zo::test::fresh_dir("zo_generate_cli_test_");
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::vector<std::string> argv{kZo, "generate", "--model", kModel};
  argv.insert(argv.end(), args.begin(), args.end());
  Result r;
  r.status = zo::test::run_program(argv, out, err);
  r.out = zo::test::slurp(out);
  r.err = zo::test::slurp(err);
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The ids after "generated_ids " in the output.
std::vector<std::int32_t> generated_ids(const std::string& out) {
  std::vector<std::int32_t> ids;
  const auto at = out.find("generated_ids");
  if (at == std::string::npos) return ids;
  std::size_t i = at + 13;
  while (i < out.size() && out[i] != '\n') {
    while (out[i] == ' ') ++i;
    std::size_t used = 0;
    ids.push_back(std::stoi(out.substr(i), &used));
    i += used;
  }
  return ids;
}

class GenerateCli : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs::exists(kZo)) << kZo << " is missing: build the zo target first"; }
};

}  // namespace

TEST_F(GenerateCli, PrintsThePromptAndTheDecodedTokens) {
  const Result r = generate({"--prompt", "The whale", "--max-new-tokens", "12", "--ignore-eos", "--ids", "--stats"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::int32_t> ids = generated_ids(r.out);
  ASSERT_EQ(ids.size(), 12u) << r.out;
  const auto tokenizer = zo::nn::Tokenizer::from_file(kModel + "/tokenizer.json");
  EXPECT_TRUE(contains(r.out, "\nThe whale" + tokenizer.decode(ids) + "\ngenerated_ids")) << r.out;
  EXPECT_TRUE(contains(r.err, "stats prompt_tokens ")) << r.err;
  EXPECT_TRUE(contains(r.err, " new_tokens 12 ")) << r.err;
  EXPECT_TRUE(contains(r.err, " kv_cache on stop max-new-tokens")) << r.err;
  // The uncached path prints the same.
  const Result slow = generate({"--prompt", "The whale", "--max-new-tokens", "12", "--ignore-eos", "--ids", "--no-kv-cache"});
  EXPECT_EQ(slow.out, r.out);
}

TEST_F(GenerateCli, StopsAtTheModelsPositionsAndSaysSo) {
  const Result r = generate({"--prompt", "The whale", "--max-new-tokens", "100000", "--ignore-eos", "--ids"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::size_t n = generated_ids(r.out).size();
  EXPECT_GT(n, 40u);
  EXPECT_LT(n, 64u);
  EXPECT_TRUE(contains(r.err, "stopped after " + std::to_string(n) + " of --max-new-tokens 100000 new tokens")) << r.err;
  EXPECT_TRUE(contains(r.err, "max_position_embeddings = 64 (--on-limit stop)")) << r.err;
}

TEST_F(GenerateCli, OnLimitErrorRefusesBeforeGenerating) {
  const Result r = generate({"--prompt", "The whale", "--max-new-tokens", "100", "--on-limit", "error"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "option --max-new-tokens = 100: prompt (")) << r.err;
  EXPECT_TRUE(contains(r.err, "max_position_embeddings = 64 (on-limit 'error')")) << r.err;
}

TEST_F(GenerateCli, APromptLongerThanTheModelsPositionsIsRefused) {
  std::string prompt;
  for (int i = 0; i < 80; ++i) prompt += "whale ";
  const Result r = generate({"--prompt", prompt, "--max-new-tokens", "1"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "more than the model's max_position_embeddings = 64")) << r.err;
}

TEST_F(GenerateCli, BadOptionsNameTheFlagTheValueAndTheRule) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-new-tokens", "-1"}, "option --max-new-tokens = -1: must be >= 0"},
      {{"--max-new-tokens", "ten"}, "option --max-new-tokens = 'ten': not an integer"},
      {{"--temperature", "-0.5"}, "option --temperature = -0.5: must be a finite number >= 0"},
      {{"--top-k", "-3"}, "option --top-k = -3: must be >= 0"},
      {{"--top-p", "0"}, "option --top-p = 0: must be in (0, 1]"},
      {{"--top-p", "1.01"}, "option --top-p = 1.01: must be in (0, 1]"},
      {{"--seed", "-1"}, "option --seed = '-1'"},
      {{"--on-limit", "slide"}, "option --on-limit = 'slide': must be 'stop'"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> all = {"--prompt", "x"};
    all.insert(all.end(), args.begin(), args.end());
    const Result r = generate(all);
    EXPECT_EQ(r.status, 2) << args[0];
    EXPECT_TRUE(contains(r.err, message)) << r.err;
  }
}

TEST_F(GenerateCli, TheSameSeedGivesTheSameText) {
  const std::vector<std::string> args = {"--prompt", "The whale", "--max-new-tokens", "20", "--ignore-eos",
                                         "--temperature", "0.9", "--top-p", "0.95", "--ids"};
  auto with_seed = [&](const std::string& seed) {
    std::vector<std::string> all = args;
    all.insert(all.end(), {"--seed", seed});
    return generate(all);
  };
  const Result a = with_seed("7"), b = with_seed("7"), c = with_seed("8");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
}

TEST_F(GenerateCli, HelpSaysWhatHappensAtTheLimit) {
  const Result r = generate({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* part : {"--on-limit", "max_position_embeddings", "--temperature", "--top-k", "--top-p", "--seed",
                           "--no-kv-cache", "--stats"})
    EXPECT_TRUE(contains(r.out, part)) << part << "\n" << r.out;
}
