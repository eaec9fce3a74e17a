// Hostile inputs to the nn layer's loaders — safetensors, config.json, the sharded index,
// tokenizer.json — that could crash them: JSON nested deep enough to overflow the stack where
// nlohmann::json recurses (copy, compare, print), sizes and token ids beyond what zo indexes. Each
// must be refused with a zo::Error naming the file. SafeTensors::parse (the fuzz target's entry,
// fuzz/safetensors_fuzz.cpp) gives what open() gives.
#include "../test_util.hpp"

#include "zo/nn/model.hpp"
#include "zo/nn/safetensors.hpp"
#include "zo/nn/tokenizer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using zo::test::expect_error;

const fs::path kModels = fs::path(ZO_SOURCE_DIR) / "tests/data/models";
const std::string kDeep = std::string(200000, '[') + std::string(200000, ']');

void put(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string safetensors(const std::string& header) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[std::size_t(i)] = char(std::uint64_t(header.size()) >> (8 * i));
  return s + header;
}

TEST(HostileInput, SafetensorsParseFromMemoryMatchesOpen) {
  const fs::path file = kModels / "safetensors" / "python_written.safetensors";
  const std::string bytes = zo::test::slurp(file);
  const auto opened = zo::nn::SafeTensors::open(file);
  const auto parsed = zo::nn::SafeTensors::parse(std::as_bytes(std::span(bytes.data(), bytes.size())), "memory");
  ASSERT_EQ(parsed.tensors().size(), opened.tensors().size());
  for (std::size_t i = 0; i < parsed.tensors().size(); ++i) {
    const auto& a = parsed.tensors()[i];
    const auto& b = opened.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape);
    EXPECT_EQ(a.nbytes, b.nbytes);
    EXPECT_EQ(std::string(static_cast<const char*>(a.data), a.nbytes), std::string(static_cast<const char*>(b.data), b.nbytes));
  }
  EXPECT_EQ(parsed.metadata(), opened.metadata());
  expect_error([&] { zo::nn::SafeTensors::parse(std::as_bytes(std::span(bytes.data(), 5)), "memory"); },
               {"memory", "too short"});
}

TEST(HostileInput, SafetensorsRefusesADeeplyNestedHeader) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_nn_");
  put(dir / "deep.safetensors", safetensors(R"({"w":{"dtype":"F32","shape":)" + kDeep + R"(,"data_offsets":[0,0]}})"));
  expect_error([&] { zo::nn::SafeTensors::open(dir / "deep.safetensors"); },
               {"deep.safetensors: header", "JSON nested deeper than 256 levels"});
  fs::remove_all(dir);
}

// A model folder: opt-tied's weights beside the given config.json (and index, when given).
fs::path model_folder(const fs::path& dir, const std::string& config) {
  fs::create_directories(dir);
  put(dir / "config.json", config);
  if (!fs::exists(dir / "model.safetensors")) fs::create_symlink(kModels / "opt-tied" / "model.safetensors", dir / "model.safetensors");
  return dir;
}

TEST(HostileInput, ModelConfigRefusesDeepNestingSizesAndIdsItCannotHold) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_nn_");
  const nlohmann::json base = nlohmann::json::parse(zo::test::slurp(kModels / "opt-tied" / "config.json"));
  std::string deep = base.dump();
  deep.insert(1, "\"extra\":" + kDeep + ",");
  model_folder(dir / "m", deep);
  expect_error([&] { zo::nn::Model::load(dir / "m"); }, {"config.json", "JSON nested deeper than 256 levels"});
  for (const auto& [field, value, rule] : std::vector<std::tuple<std::string, nlohmann::json, std::string>>{
           {"hidden_size", 2147483648ll, "up to 2147483647"},
           {"max_position_embeddings", 9223372036854775807ll, "up to 2147483647"},
           {"num_hidden_layers", 1000000, "holds 36 tensors"},
           {"eos_token_id", 4294967298ll, "32-bit"},
           {"pad_token_id", -2147483649ll, "32-bit"}}) {
    nlohmann::json config = base;
    config[field] = value;
    model_folder(dir / "m", config.dump());
    expect_error([&] { zo::nn::Model::load(dir / "m"); }, {field, rule});
  }
  // A valid config with a trailing word was read up to its end before; it is not a JSON file.
  model_folder(dir / "m", base.dump() + " trailing");
  expect_error([&] { zo::nn::Model::load(dir / "m"); }, {"config.json", "not valid JSON"});
  fs::remove_all(dir);
}

TEST(HostileInput, ShardedIndexAndTokenizerRefuseDeepNesting) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_nn_");
  fs::create_directories(dir / "sharded");
  fs::copy_file(kModels / "llama-sharded" / "config.json", dir / "sharded" / "config.json");
  put(dir / "sharded" / "model.safetensors.index.json", "{\"metadata\": " + kDeep + ", \"weight_map\": {}}");
  expect_error([&] { zo::nn::Model::load(dir / "sharded"); }, {"model.safetensors.index.json", "nested deeper"});
  put(dir / "tokenizer.json", "{\"truncation\": " + kDeep + "}");
  expect_error([&] { zo::nn::Tokenizer::from_file(dir / "tokenizer.json"); }, {"tokenizer.json", "nested deeper"});
  fs::remove_all(dir);
}

// Token ids given as floats or beyond 32 bits: a TemplateProcessing id of 1e30 was converted to int with
// undefined behaviour (found by reading the tokenizer fuzz target's paths, fuzz/tokenizer_fuzz.cpp).
TEST(HostileInput, TokenizerRefusesTokenIdsThatAreNotIntegersIn32Bits) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_nn_");
  const auto with_post = [&](const nlohmann::json& post) {
    const nlohmann::json t = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", nlohmann::json::array()}}},
                              {"post_processor", post}};
    put(dir / "tokenizer.json", t.dump());
    return zo::nn::Tokenizer::from_file(dir / "tokenizer.json");
  };
  const auto template_ids = [](const nlohmann::json& ids) {
    return nlohmann::json{{"type", "TemplateProcessing"},
                          {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", ids}}}}}};
  };
  expect_error([&] { with_post(template_ids({1e30})); }, {"special_tokens.<s>.ids[0]", "[0, 2147483647]"});
  expect_error([&] { with_post(template_ids({0, 2.5})); }, {"ids[1]", "[0, 2147483647]"});
  expect_error([&] { with_post(template_ids({4294967296ll})); }, {"ids[0]", "[0, 2147483647]"});
  expect_error([&] { with_post({{"type", "RobertaProcessing"}, {"cls", {"<s>", 1e30}}, {"sep", {"</s>", 1}}}); },
               {"post_processor.cls[1]", "[0, 2147483647]"});
  EXPECT_EQ(with_post(template_ids({1})).encode("ab"), (std::vector<std::int32_t>{1, 0, 1}));
  put(dir / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}})");
  expect_error([&] { zo::nn::Tokenizer::from_file(dir / "tokenizer.json"); }, {"model.vocab.a", "[0, 2147483647]"});
  fs::remove_all(dir);
}

}  // namespace
