// zo::nn::Tokenizer against Hugging Face tokenizers 0.22.2: the goldens in tests/data/tokenizers
// were written by scripts/make_tokenizer_goldens.js with the Rust library itself (npm
// @anush008/tokenizers), for real tokenizer files (GPT-2, Llama-3, a LLaMA-2-format SentencePiece
// BPE) and a byte-level BPE trained by the same library, plus variants that switch on options the
// real files do not use.
#include "zo/nn/tokenizer.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "zo/util/error.hpp"

namespace {

using nlohmann::json;
using zo::nn::Tokenizer;
namespace fs = std::filesystem;

const fs::path kData = fs::path(ZO_SOURCE_DIR) / "tests" / "data" / "tokenizers";

json read_json(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return json::parse(in);
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// The tokenizer a golden file was made for: its tokenizer.json, with the golden's top-level
// overrides applied (written to a scratch directory).
Tokenizer load_uncached(const std::string& name, const json& golden) {
  const fs::path base = kData / name / golden.at("tokenizer").get<std::string>();
  if (!golden.contains("overrides")) return Tokenizer::from_file(base);
  json tokenizer = read_json(base);
  for (const auto& [key, value] : golden.at("overrides").items()) tokenizer[key] = value;
  const zo::test::TempDir dir("overrides_" + name);
  const fs::path file = dir.path / "tokenizer.json";
  write_text(file, tokenizer.dump());
  return Tokenizer::from_file(file);
}

// Loaded once per test program: the Llama-3 file takes a while to parse.
const Tokenizer& load_for_golden(const std::string& name, const json& golden) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> loaded;
  auto& slot = loaded[name];
  if (!slot) slot = std::make_unique<Tokenizer>(load_uncached(name, golden));
  return *slot;
}

std::vector<std::int32_t> ids_of(const json& j) { return j.get<std::vector<std::int32_t>>(); }

std::string printable(const std::string& s) {
  return s.size() > 80 ? json(s.substr(0, 80)).dump() + "..." : json(s).dump();
}

class TokenizerGolden : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    golden_ = read_json(kData / GetParam() / "golden.json");
    corpus_ = read_json(kData / "corpus.json").get<std::vector<std::string>>();
    ASSERT_EQ(golden_.at("lines").size(), corpus_.size());
  }
  json golden_;
  std::vector<std::string> corpus_;
};

TEST_P(TokenizerGolden, EncodesEveryLineToHuggingFaceIds) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  for (std::size_t i = 0; i < corpus_.size(); ++i) {
    const json& line = golden_.at("lines")[i];
    EXPECT_EQ(tok.encode(corpus_[i], true), ids_of(line.at("ids"))) << "line " << i << ": " << printable(corpus_[i]);
    EXPECT_EQ(tok.encode(corpus_[i], false), ids_of(line.at("ids_no_special")))
        << "line " << i << ": " << printable(corpus_[i]);
  }
}

TEST_P(TokenizerGolden, EncodesTheWholeCorpusToHuggingFaceIds) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  std::string whole;
  for (std::size_t i = 0; i < corpus_.size(); ++i) whole += (i ? "\n" : "") + corpus_[i];
  EXPECT_EQ(tok.encode(whole, true), ids_of(golden_.at("whole").at("ids")));
  EXPECT_EQ(tok.encode(whole, false), ids_of(golden_.at("whole").at("ids_no_special")));
}

TEST_P(TokenizerGolden, DecodesLikeHuggingFace) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  for (std::size_t i = 0; i < corpus_.size(); ++i) {
    const json& line = golden_.at("lines")[i];
    const std::vector<std::int32_t> ids = ids_of(line.at("ids"));
    EXPECT_EQ(tok.decode(ids, true), line.at("decoded").get<std::string>()) << "line " << i;
    EXPECT_EQ(tok.decode(ids, false), line.at("decoded_with_special").get<std::string>()) << "line " << i;
  }
  const std::vector<std::int32_t> whole = ids_of(golden_.at("whole").at("ids"));
  EXPECT_EQ(tok.decode(whole, true), golden_.at("whole").at("decoded").get<std::string>());
}

TEST_P(TokenizerGolden, DecodesArbitraryIdsLikeHuggingFace) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  for (const json& c : golden_.at("decode_cases")) {
    const std::vector<std::int32_t> ids = ids_of(c.at("ids"));
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded").get<std::string>()) << c.at("ids").dump();
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded_with_special").get<std::string>()) << c.at("ids").dump();
  }
}

TEST_P(TokenizerGolden, RoundTripsWhereHuggingFaceRoundTrips) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  int round_trips = 0;
  for (std::size_t i = 0; i < corpus_.size(); ++i) {
    if (golden_.at("lines")[i].at("decoded").get<std::string>() != corpus_[i]) continue;
    ++round_trips;
    EXPECT_EQ(tok.decode(tok.encode(corpus_[i], true), true), corpus_[i]) << "line " << i;
  }
  EXPECT_GT(round_trips, 0);
}

TEST_P(TokenizerGolden, VocabSizeCountsAddedTokens) {
  const Tokenizer& tok = load_for_golden(GetParam(), golden_);
  EXPECT_EQ(tok.vocab_size(), golden_.at("vocab_size_with_added").get<std::int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Files, TokenizerGolden,
                         testing::Values("bytelevel-1k", "bytelevel-1k-added", "gpt2", "llama2", "llama2-metaspace",
                                         "llama3", "llama3-template"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(Tokenizer, ByteLevel1kHasOptLikeSpecialIds) {
  const Tokenizer tok = Tokenizer::from_file(kData / "bytelevel-1k" / "tokenizer.json");
  EXPECT_EQ(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.bos_id(), 2);  // OPT prepends </s>
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.pad_id(), 1);
  EXPECT_EQ(tok.token_to_id("<s>"), 0);
  EXPECT_EQ(tok.token_to_id("<unk>"), 3);
  EXPECT_EQ(tok.token_to_id("\xC4\xA0"), 4 + 32);  // "Ġ" stands for byte 0x20
  EXPECT_EQ(tok.token_to_id("no such token"), std::nullopt);
  EXPECT_EQ(tok.encode("", true), std::vector<std::int32_t>{2});
  EXPECT_TRUE(tok.encode("", false).empty());
}

TEST(Tokenizer, SpecialIdsFollowThePostProcessorAndUsualNames) {
  const Tokenizer llama2 = Tokenizer::from_file(kData / "llama2" / "tokenizer.json");
  EXPECT_EQ(llama2.bos_id(), 1);
  EXPECT_EQ(llama2.eos_id(), 2);
  EXPECT_EQ(llama2.pad_id(), std::nullopt);
  const Tokenizer gpt2 = Tokenizer::from_file(kData / "gpt2" / "tokenizer.json");
  EXPECT_EQ(gpt2.bos_id(), 50256);
  EXPECT_EQ(gpt2.eos_id(), 50256);
  EXPECT_EQ(gpt2.vocab_size(), 50257);
}

TEST(Tokenizer, SpecialIdsComeFromTokenizerConfigWhenPresent) {
  const zo::test::TempDir scratch("config");
  const fs::path& dir = scratch.path;
  fs::copy_file(kData / "bytelevel-1k" / "tokenizer.json", dir / "tokenizer.json");
  write_text(dir / "tokenizer_config.json",
             R"({"bos_token": "<s>", "eos_token": {"content": "</s>", "special": true}, "pad_token": null})");
  const Tokenizer tok = Tokenizer::from_file(dir / "tokenizer.json");
  EXPECT_EQ(tok.bos_id(), 0);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.pad_id(), std::nullopt);

  write_text(dir / "tokenizer_config.json", R"({"bos_token": "<nope>"})");
  try {
    (void)Tokenizer::from_file(dir / "tokenizer.json");
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bos_token"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, DecodeSkipsUnknownIds) {
  const Tokenizer tok = Tokenizer::from_file(kData / "bytelevel-1k" / "tokenizer.json");
  const std::vector<std::int32_t> ids = tok.encode("Call me Ishmael.", false);
  std::vector<std::int32_t> with_unknown = ids;
  with_unknown.insert(with_unknown.begin() + 1, 5000);
  with_unknown.push_back(-7);
  EXPECT_EQ(tok.decode(with_unknown), tok.decode(ids));
}

TEST(Tokenizer, EncodeIsDeterministicWithAWarmCache) {
  Tokenizer tok = Tokenizer::from_file(kData / "gpt2" / "tokenizer.json");
  const std::string text = "The whale, the whale! The white whale.";
  const std::vector<std::int32_t> first = tok.encode(text);
  EXPECT_EQ(tok.encode(text), first);
  const Tokenizer moved = std::move(tok);
  EXPECT_EQ(moved.encode(text), first);
}

// --- errors -----------------------------------------------------------------------------------

// Runs from_file on `text` written to a scratch file and returns the zo::Error message.
std::string load_error(const std::string& text) {
  const zo::test::TempDir dir("errors");
  const fs::path file = dir.path / "tokenizer.json";
  write_text(file, text);
  try {
    (void)Tokenizer::from_file(file);
  } catch (const zo::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no zo::Error for " << text.substr(0, 200);
  return "";
}

// The bytelevel-1k file with one top-level field replaced.
std::string bytelevel_with(const std::string& key, const json& value) {
  json j = read_json(kData / "bytelevel-1k" / "tokenizer.json");
  j[key] = value;
  return j.dump();
}

void expect_contains(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nexpected to contain: " << part;
}

TEST(TokenizerErrors, MissingFileNamesThePath) {
  try {
    (void)Tokenizer::from_file("/nonexistent/dir/tokenizer.json");
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    expect_contains(e.what(), "/nonexistent/dir/tokenizer.json");
  }
}

TEST(TokenizerErrors, CorruptJsonIsReported) {
  const std::string message = load_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, )");
  expect_contains(message, "tokenizer.json");
  expect_contains(message, "not valid JSON");
}

TEST(TokenizerErrors, UnsupportedModelTypeNamesTheField) {
  json model = {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}, {"unk_token", "[UNK]"}};
  const std::string message = load_error(bytelevel_with("model", model));
  expect_contains(message, "tokenizer.json");
  expect_contains(message, "model.type");
  expect_contains(message, "WordPiece");
}

TEST(TokenizerErrors, UnsupportedPartsNameTheirField) {
  expect_contains(load_error(bytelevel_with("normalizer", {{"type", "NFKC"}})), "normalizer.type");
  expect_contains(load_error(bytelevel_with("normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}})),
                  "normalizer.normalizers[0].type");
  expect_contains(load_error(bytelevel_with("pre_tokenizer", {{"type", "Whitespace"}})), "pre_tokenizer.type");
  expect_contains(load_error(bytelevel_with(
                      "pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}, {"invert", false}})),
                  "pre_tokenizer.pattern");
  expect_contains(load_error(bytelevel_with("post_processor", {{"type", "BertLike"}})), "post_processor.type");
  expect_contains(load_error(bytelevel_with("decoder", {{"type", "WordPiece"}, {"prefix", "##"}})), "decoder.type");
  expect_contains(load_error(bytelevel_with("truncation", {{"max_length", 8}})), "truncation");
}

TEST(TokenizerErrors, MergeOfUnknownTokenIsReported) {
  json j = read_json(kData / "bytelevel-1k" / "tokenizer.json");
  j["model"]["merges"].push_back(json::array({"\xE2\x96\x81nope", "x"}));
  expect_contains(load_error(j.dump()), "model.merges");
}

TEST(TokenizerErrors, InvalidUtf8TextIsRejected) {
  const Tokenizer tok = Tokenizer::from_file(kData / "bytelevel-1k" / "tokenizer.json");
  EXPECT_THROW((void)tok.encode("abc\xFF"), zo::Error);
  EXPECT_THROW((void)tok.encode("\xE2\x82"), zo::Error);
}

}  // namespace
