// Generation with and without the KV cache (Model::forward_cached, KvCache, zo::nn::generate): the
// cached path must choose the same tokens as re-running the whole sequence, from logits equal to float
// rounding, on the five test models (OPT pre-/post-norm, LLaMA with GQA, tied bf16, sharded with
// head_dim ≠ C/NH) and on the shipped models/opt-text-proto; and the position limit.
#include "zo/nn/generate.hpp"

#include "zo/nn/kv_cache.hpp"
#include "zo/nn/tokenizer.hpp"
#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::nn::GenerateOptions;
using zo::nn::GenerateResult;
using zo::nn::KvCache;
using zo::nn::Model;

namespace {

const fs::path source_dir = ZO_SOURCE_DIR;
const fs::path models_dir = source_dir / "tests/data/models";

std::vector<std::int32_t> prompt_ids(const fs::path& tokenizer_json, const std::string& text) {
  return zo::nn::Tokenizer::from_file(tokenizer_json).encode(text, true);
}

// max |a − b| / max |b| over a vector of logits.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / scale;
}

struct Run {
  GenerateResult result;
  std::vector<std::vector<float>> logits;  // per new token
};

Run generate(Model& model, const std::vector<std::int32_t>& prompt, GenerateOptions options) {
  Run run;
  run.result = zo::nn::generate(model, prompt, options, [&](std::int32_t, std::span<const float> logits) {
    run.logits.emplace_back(logits.begin(), logits.end());
  });
  return run;
}

// The cached and uncached runs of `new_tokens` greedy tokens: same tokens, logits within `tolerance`.
void expect_cache_matches(const fs::path& dir, const std::vector<std::int32_t>& prompt, std::int64_t new_tokens,
                          double tolerance) {
  Model model = Model::load(dir);
  GenerateOptions options;
  options.max_new_tokens = new_tokens;
  const Run cached = generate(model, prompt, options);
  options.no_kv_cache = true;
  const Run uncached = generate(model, prompt, options);
  ASSERT_EQ(cached.result.tokens.size(), std::size_t(new_tokens));
  EXPECT_EQ(cached.result.tokens, uncached.result.tokens) << dir;
  double worst = 0.0;
  for (std::size_t i = 0; i < cached.logits.size(); ++i) worst = std::max(worst, relative_error(cached.logits[i], uncached.logits[i]));
  EXPECT_LE(worst, tolerance) << dir;
  std::printf("%s: %lld tokens, worst relative logit error %.3g\n", dir.filename().c_str(), (long long)new_tokens, worst);
}

class CachedGeneration : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CachedGeneration, GivesTheTokensAndLogitsOfTheUncachedPath) {
  // 40 new tokens after a 10-token prompt: 50 of the 64 positions, every layer's cache in use.
  const auto prompt = prompt_ids(models_dir / "opt-tied/tokenizer.json", "It was the best of times, it was");
  ASSERT_GE(prompt.size(), 5u);
  expect_cache_matches(models_dir / GetParam(), prompt, 40, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Nn, CachedGeneration,
                         ::testing::Values("opt-tied", "opt-postnorm-f16", "llama-gqa", "llama-tied-bf16", "llama-sharded"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(CachedGeneration, ShippedModelGivesTheTokensAndLogitsOfTheUncachedPath) {
  const fs::path dir = source_dir / "models/opt-text-proto";
  const auto prompt = prompt_ids(dir / "tokenizer.json", "Call me Ishmael. Some years ago");
  expect_cache_matches(dir, prompt, 48, 1e-4);
}

TEST(CachedForward, PrefillInPiecesEqualsOnePrefillAndTheFullForward) {
  Model model = Model::load(models_dir / "llama-gqa");
  const std::vector<std::int32_t> tokens = {1, 17, 300, 42, 9, 511, 77, 3, 1000, 64};
  KvCache one(model.config()), pieces(model.config());
  const std::vector<float> whole = model.forward_cached(one, tokens);
  EXPECT_EQ(one.length(), 10);
  model.forward_cached(pieces, std::span(tokens).first(4));
  model.forward_cached(pieces, std::span(tokens).subspan(4, 5));
  const std::vector<float> last = model.forward_cached(pieces, std::span(tokens).subspan(9));
  EXPECT_EQ(pieces.length(), 10);
  EXPECT_LE(relative_error(last, whole), 1e-5);
  const std::vector<float> full = model.logits_at({1, 10, tokens, {}}, 0, 9);
  EXPECT_LE(relative_error(whole, full), 1e-5);
  // The cache holds every layer's 10 rows of NKV × HD keys and values.
  EXPECT_EQ(one.layers(), model.config().num_layers);
  EXPECT_EQ(one.row_size(), model.config().num_kv_heads * model.config().head_dim);
  EXPECT_GE(one.bytes(), std::size_t(2 * one.layers() * 10 * one.row_size()) * sizeof(float));
  // Keys and values of every layer: the same rows whether the prompt came in one piece or three.
  for (std::int64_t l = 0; l < one.layers(); ++l)
    for (std::int64_t i = 0; i < 10 * one.row_size(); ++i) {
      EXPECT_NEAR(pieces.keys(l)[i], one.keys(l)[i], 1e-5f * (1.0f + std::abs(one.keys(l)[i]))) << l << " " << i;
      EXPECT_NEAR(pieces.values(l)[i], one.values(l)[i], 1e-5f * (1.0f + std::abs(one.values(l)[i]))) << l << " " << i;
    }
  one.clear();
  EXPECT_EQ(one.length(), 0);
  EXPECT_LE(relative_error(model.forward_cached(one, tokens), whole), 0.0);  // same rows, same arithmetic
}

TEST(CachedForward, ErrorsNameTheLimitAndTheShape) {
  Model model = Model::load(models_dir / "opt-tied");
  KvCache cache(model.config());
  EXPECT_EQ(cache.capacity(), 64);
  EXPECT_THROW(model.forward_cached(cache, {}), zo::Error);
  const std::vector<std::int32_t> many(65, 5);
  try {
    model.forward_cached(cache, many);
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_position_embeddings = 64"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.length(), 0);
  model.forward_cached(cache, std::span(many).first(64));
  EXPECT_THROW(model.forward_cached(cache, std::span(many).first(1)), zo::Error);
  EXPECT_THROW(cache.reserve_more(1), zo::Error);
  EXPECT_THROW(cache.commit(1), zo::Error);
  Model llama = Model::load(models_dir / "llama-sharded");  // 1 kv head of 32: another row size
  KvCache other(llama.config());
  EXPECT_THROW(model.forward_cached(other, std::span(many).first(1)), zo::Error);
  // A bad token id leaves the cache as it was.
  KvCache fresh(model.config());
  const std::vector<std::int32_t> bad = {5, 4096};
  EXPECT_THROW(model.forward_cached(fresh, bad), zo::Error);
  EXPECT_EQ(fresh.length(), 0);
}

TEST(PositionLimit, GenerationStopsAtMaxPositionsWithAndWithoutTheCache) {
  Model model = Model::load(models_dir / "opt-tied");  // max_position_embeddings 64
  const std::vector<std::int32_t> prompt(60, 7);
  for (bool no_cache : {false, true}) {
    GenerateOptions options;
    options.max_new_tokens = 100;
    options.no_kv_cache = no_cache;
    const GenerateResult r = zo::nn::generate(model, prompt, options);
    EXPECT_EQ(r.tokens.size(), 4u);  // 60 + 4 = 64
    EXPECT_EQ(r.stop, zo::nn::StopReason::position_limit);
    EXPECT_EQ(zo::nn::to_string(r.stop), "position-limit");
  }
  GenerateOptions exact;
  exact.max_new_tokens = 4;
  EXPECT_EQ(zo::nn::generate(model, prompt, exact).stop, zo::nn::StopReason::max_new_tokens);
  EXPECT_EQ(zo::nn::to_string(zo::nn::StopReason::max_new_tokens), "max-new-tokens");
  EXPECT_EQ(zo::nn::to_string(zo::nn::StopReason::stop_token), "stop-token");
}

TEST(PositionLimit, OnLimitErrorRefusesARunThatWouldPassIt) {
  Model model = Model::load(models_dir / "opt-tied");
  GenerateOptions options;
  options.on_limit = "error";
  options.max_new_tokens = 5;
  const std::vector<std::int32_t> prompt(60, 7);
  try {
    zo::nn::check_position_limit(model.config(), 60, options);
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("option 'max-new-tokens' = 5"), std::string::npos) << m;
    EXPECT_NE(m.find("max_position_embeddings = 64"), std::string::npos) << m;
    EXPECT_NE(m.find("at most 4 new tokens"), std::string::npos) << m;
  }
  EXPECT_THROW(zo::nn::generate(model, prompt, options), zo::Error);
  options.max_new_tokens = 4;
  EXPECT_EQ(zo::nn::generate(model, prompt, options).tokens.size(), 4u);
  // A prompt beyond the limit is refused whatever on-limit says, as is an empty one.
  options.on_limit = "stop";
  const std::vector<std::int32_t> long_prompt(65, 7);
  EXPECT_THROW(zo::nn::generate(model, long_prompt, options), zo::Error);
  EXPECT_THROW(zo::nn::check_position_limit(model.config(), 0, options), zo::Error);
}

TEST(GenerateOptions, ValidationNamesTheOptionValueAndRule) {
  auto message = [](GenerateOptions o) {
    try {
      o.validate();
    } catch (const zo::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  GenerateOptions o;
  EXPECT_EQ(message(o), "");
  o.max_new_tokens = -1;
  EXPECT_EQ(message(o), "option 'max-new-tokens' = -1: must be >= 0");
  o = {};
  o.on_limit = "slide";
  EXPECT_NE(message(o).find("option 'on-limit' = 'slide': must be 'stop'"), std::string::npos) << message(o);
  o = {};
  o.sampling.top_p = 0.0;
  EXPECT_NE(message(o).find("option 'top-p' = 0"), std::string::npos);
  // Every option of the list is reachable by name, with the struct's default.
  const auto& list = zo::nn::generate_option_list();
  for (const char* name : {"max-new-tokens", "on-limit", "no-kv-cache", "temperature", "top-k", "top-p", "seed"})
    ASSERT_NE(list.find(name), nullptr) << name;
  GenerateOptions set;
  list.find("temperature")->set(set, "0.7");
  list.find("top-k")->set(set, "40");
  list.find("seed")->set(set, "123");
  EXPECT_EQ(set.sampling.temperature, 0.7);
  EXPECT_EQ(set.sampling.top_k, 40);
  EXPECT_EQ(set.sampling.seed, 123u);
  EXPECT_EQ(list.find("max-new-tokens")->get(GenerateOptions{}), "32");
}
