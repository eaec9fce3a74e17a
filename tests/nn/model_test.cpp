// OPT and LLaMA forward passes held to goldens from scripts/make_nn_goldens.py (a PyTorch
// reimplementation of HF's modeling_opt.py / modeling_llama.py), plus shared-prefix evaluation,
// parameter views, export, and load errors.
#include "zo/nn/model.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/safetensors.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::nn::Model;
using zo::nn::SafeTensors;
using zo::nn::TokenBatch;

namespace {

const fs::path models_dir = fs::path(ZO_SOURCE_DIR) / "tests/data/models";

std::vector<float> floats(const SafeTensors& st, const std::string& name) {
  const auto& t = st.at(name);
  std::vector<float> out(std::size_t(t.numel()));
  std::memcpy(out.data(), t.data, t.nbytes);
  return out;
}

struct Golden {
  std::int64_t B = 0, T = 0, V = 0;
  std::vector<std::int32_t> tokens, mask, labels;
  std::vector<float> logits;
  double loss = 0;
  TokenBatch batch() const { return {B, T, tokens, mask}; }
};

Golden read_golden(const std::string& name) {
  SafeTensors st = SafeTensors::open(models_dir / "goldens" / (name + ".safetensors"));
  Golden g;
  const auto& shape = st.at("logits").shape;
  g.B = shape[0], g.T = shape[1], g.V = shape[2];
  auto to_int = [](const std::vector<float>& v) {
    std::vector<std::int32_t> out(v.size());
    std::transform(v.begin(), v.end(), out.begin(), [](float x) { return std::int32_t(x); });
    return out;
  };
  g.tokens = to_int(floats(st, "tokens"));
  g.mask = to_int(floats(st, "mask"));
  g.labels = to_int(floats(st, "labels"));
  g.logits = floats(st, "logits");
  g.loss = floats(st, "loss")[0];
  return g;
}

// The metric: per batch row b, max over all positions t (padding included) and vocabulary entries of
// |zo − ref|, divided by the max |ref| over the same entries; the worst row is returned.
double worst_row_relative_error(const Golden& g, const std::vector<float>& logits) {
  double worst = 0;
  for (std::int64_t b = 0; b < g.B; ++b) {
    double diff = 0, scale = 0;
    for (std::int64_t t = 0; t < g.T; ++t) {
      for (std::int64_t v = 0; v < g.V; ++v) {
        const std::size_t i = std::size_t((b * g.T + t) * g.V + v);
        diff = std::max(diff, double(std::fabs(logits[i] - g.logits[i])));
        scale = std::max(scale, double(std::fabs(g.logits[i])));
      }
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

class GoldenModels : public ::testing::TestWithParam<std::string> {};

// A fresh folder per test, removed at the end.
class ModelFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("zo_model_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A copy of models/<name> with config.json edited by `edit_config` and tensors by `edit_tensors`.
  fs::path variant(const std::string& name, const std::function<void(nlohmann::json&)>& edit_config,
                   const std::function<void(std::vector<zo::nn::TensorToWrite>&)>& edit_tensors = {}) {
    const fs::path src = models_dir / name, dst = dir_ / name;
    fs::create_directories(dst);
    nlohmann::json config;
    std::ifstream(src / "config.json") >> config;
    if (edit_config) edit_config(config);
    std::ofstream(dst / "config.json") << config.dump(2);
    SafeTensors st = SafeTensors::open(src / "model.safetensors");
    std::vector<zo::nn::TensorToWrite> tensors;
    for (const auto& t : st.tensors()) tensors.push_back({t.name, t.dtype, t.shape, t.data});
    if (edit_tensors) edit_tensors(tensors);
    zo::nn::write_safetensors(dst / "model.safetensors", tensors, {{"format", "pt"}});
    return dst;
  }

  fs::path dir_;
};

void expect_load_error(const fs::path& dir, const std::vector<std::string>& parts) {
  try {
    Model::load(dir);
    ADD_FAILURE() << "no error loading " << dir;
  } catch (const zo::Error& e) {
    const std::string message = e.what();
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

}  // namespace

TEST_P(GoldenModels, LogitsMatchThePyTorchReferenceToRelativeError1e4) {
  const Golden g = read_golden(GetParam());
  Model model = Model::load(models_dir / GetParam());
  ASSERT_EQ(model.config().vocab_size, g.V);
  const std::vector<float> logits = model.forward(g.batch());
  ASSERT_EQ(logits.size(), g.logits.size());
  const double error = worst_row_relative_error(g, logits);
  RecordProperty("worst_row_relative_error", fmt::format("{:.3g}", error));
  EXPECT_LE(error, 1e-4);
}

TEST_P(GoldenModels, LossMatchesTorchCrossEntropy) {
  const Golden g = read_golden(GetParam());
  Model model = Model::load(models_dir / GetParam());
  const zo::nn::LossResult loss = model.loss(g.batch(), g.labels);
  std::int64_t expected_count = 0;
  for (std::int64_t b = 0; b < g.B; ++b)
    for (std::int64_t t = 1; t < g.T; ++t) expected_count += g.labels[std::size_t(b * g.T + t)] != -100;
  EXPECT_EQ(loss.count, expected_count);
  EXPECT_NEAR(loss.mean, g.loss, 1e-5 * g.loss);
  EXPECT_NEAR(loss.sum / double(loss.count), loss.mean, 1e-12);
}

TEST_P(GoldenModels, ResumingFromAnyLayerGivesTheSameLogitsAndLossBitForBit) {
  const Golden g = read_golden(GetParam());
  Model model = Model::load(models_dir / GetParam());
  const std::vector<float> full = model.forward(g.batch());
  const zo::nn::LossResult full_loss = model.loss(g.batch(), g.labels);
  for (std::int64_t k = 0; k <= model.config().num_layers; ++k) {
    const std::vector<float> hidden = model.hidden_states(g.batch(), k);
    ASSERT_EQ(hidden.size(), std::size_t(g.B * g.T * model.config().hidden_size));
    EXPECT_EQ(model.forward_from(k, g.batch(), hidden), full) << "k = " << k;
    EXPECT_EQ(model.loss_from(k, g.batch(), hidden, g.labels).sum, full_loss.sum) << "k = " << k;
  }
}

TEST_P(GoldenModels, LogitsAtOnePositionEqualThatRowOfTheFullForward) {
  const Golden g = read_golden(GetParam());
  Model model = Model::load(models_dir / GetParam());
  const std::vector<float> full = model.forward(g.batch());
  const std::int64_t b = 1, t = 5;
  const std::vector<float> row = model.logits_at(g.batch(), b, t);
  ASSERT_EQ(std::int64_t(row.size()), g.V);
  for (std::int64_t v = 0; v < g.V; ++v) EXPECT_NEAR(row[std::size_t(v)], full[std::size_t((b * g.T + t) * g.V + v)], 1e-4);
}

TEST_P(GoldenModels, SavePretrainedThenLoadGivesTheSameModel) {
  const Golden g = read_golden(GetParam());
  Model model = Model::load(models_dir / GetParam());
  const fs::path out = fs::temp_directory_path() / ("zo_export_" + std::to_string(::getpid()) + "_" + GetParam());
  fs::remove_all(out);
  model.save_pretrained(out);
  SafeTensors st = SafeTensors::open(out / "model.safetensors");
  EXPECT_EQ(st.metadata().at("format"), "pt");
  // A tied head is left out, as save_pretrained does; an untied one is written.
  EXPECT_EQ(st.find("lm_head.weight") != nullptr, !model.config().tie_word_embeddings);
  Model again = Model::load(out);
  EXPECT_EQ(again.config().raw, model.config().raw);
  EXPECT_EQ(again.parameter_bytes(), model.parameter_bytes());
  EXPECT_EQ(again.forward(g.batch()), model.forward(g.batch()));
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Nn, GoldenModels,
                         ::testing::Values("opt-tied", "opt-postnorm-f16", "llama-gqa", "llama-tied-bf16",
                                           "llama-sharded"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(ModelParams, BlocksAreEmbeddingsEachLayerAndHead) {
  Model model = Model::load(models_dir / "llama-gqa");
  zo::ParamSet params = model.params();
  const auto blocks = params.blocks();
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].name, "embeddings");
  EXPECT_EQ(blocks[1].name, "layers.0");
  EXPECT_EQ(blocks[2].name, "layers.1");
  EXPECT_EQ(blocks[3].name, "head");
  EXPECT_EQ(params.numel(), model.parameter_count());
  EXPECT_NE(params.find("lm_head.weight"), nullptr);
  EXPECT_EQ(params.param(blocks[1].params.front()).name.rfind("model.layers.0.", 0), 0u);
  // 1 + 9 per layer + norm + head
  EXPECT_EQ(params.params().size(), 1u + 9u * 2u + 2u);
}

TEST(ModelParams, TiedHeadAppearsOnceAsTheEmbedding) {
  Model model = Model::load(models_dir / "opt-tied");
  zo::ParamSet params = model.params();
  EXPECT_EQ(params.find("lm_head.weight"), nullptr);
  EXPECT_NE(params.find("model.decoder.embed_tokens.weight"), nullptr);
  EXPECT_EQ(params.blocks().front().params.size(), 2u);  // token and position embeddings
  // A 2-layer OPT has 16 tensors a layer, 2 embeddings and the final norm's 2.
  EXPECT_EQ(params.params().size(), 2u + 16u * 2u + 2u);
}

TEST(ModelParams, ParamsAreWritableViewsOfTheWeightsTheForwardUses) {
  const Golden g = read_golden("opt-tied");
  Model model = Model::load(models_dir / "opt-tied");
  const std::vector<float> before = model.forward(g.batch());
  zo::ParamSet params = model.params();
  const zo::Param* p = params.find("model.decoder.layers.1.fc2.bias");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->dtype, zo::DType::f32);
  auto* data = static_cast<float*>(p->data);
  std::vector<float> saved(data, data + p->numel);
  for (std::int64_t i = 0; i < p->numel; ++i) data[i] += 0.5f;
  const std::vector<float> perturbed = model.forward(g.batch());
  EXPECT_NE(perturbed, before);
  std::copy(saved.begin(), saved.end(), data);
  EXPECT_EQ(model.forward(g.batch()), before);
}

TEST(ModelLoss, NoCountedLabelsGivesNaNMeanAndZeroCount) {
  const Golden g = read_golden("llama-gqa");
  Model model = Model::load(models_dir / "llama-gqa");
  std::vector<std::int32_t> labels(g.labels.size(), zo::nn::ignore_index);
  const auto loss = model.loss(g.batch(), labels);
  EXPECT_EQ(loss.count, 0);
  EXPECT_TRUE(std::isnan(loss.mean));
}

// Model::loss's `also`: log p(token) at every counted position, held to log-softmax of the PyTorch
// reference's logits (the golden file), the row chosen by the same label rule.
TEST(ModelLoss, AlsoLogProbsAreTheReferenceLogSoftmaxAtEachCountedPosition) {
  const Golden g = read_golden("opt-tied");
  Model model = Model::load(models_dir / "opt-tied");
  const std::vector<std::int32_t> also{0, 7, std::int32_t(g.V - 1)};
  const auto loss = model.loss(g.batch(), g.labels, also);
  ASSERT_GT(loss.count, 0);
  ASSERT_EQ(loss.also_log_probs.size(), std::size_t(loss.count) * also.size());
  std::int64_t row = 0;
  for (std::int64_t b = 0; b < g.B; ++b) {
    for (std::int64_t t = 0; t + 1 < g.T; ++t) {
      if (g.labels[std::size_t(b * g.T + t + 1)] == zo::nn::ignore_index) continue;
      const float* logits = g.logits.data() + (b * g.T + t) * g.V;
      double max = -INFINITY, sum = 0.0;
      for (std::int64_t v = 0; v < g.V; ++v) max = std::max(max, double(logits[v]));
      for (std::int64_t v = 0; v < g.V; ++v) sum += std::exp(double(logits[v]) - max);
      for (std::size_t j = 0; j < also.size(); ++j) {
        const double expected = double(logits[also[j]]) - max - std::log(sum);
        EXPECT_NEAR(loss.also_log_probs[std::size_t(row) * also.size() + j], expected, 1e-4) << "row " << row << " id " << also[j];
      }
      ++row;
    }
  }
  EXPECT_EQ(row, loss.count);
  const std::vector<std::int32_t> outside{std::int32_t(g.V)};
  EXPECT_THROW(model.loss(g.batch(), g.labels, outside), zo::Error);
}

TEST(ModelLoss, BadInputsAreErrors) {
  const Golden g = read_golden("llama-gqa");
  Model model = Model::load(models_dir / "llama-gqa");
  std::vector<std::int32_t> tokens = g.tokens;
  tokens[3] = 5000;
  EXPECT_THROW(model.forward({g.B, g.T, tokens, g.mask}), zo::Error);
  std::vector<std::int32_t> mask = g.mask;
  mask[0] = 2;
  EXPECT_THROW(model.forward({g.B, g.T, g.tokens, mask}), zo::Error);
  EXPECT_THROW(model.forward({g.B, g.T + 1, g.tokens, g.mask}), zo::Error);
  std::vector<std::int32_t> labels = g.labels;
  labels[1] = 4096;
  EXPECT_THROW(model.loss(g.batch(), labels), zo::Error);
  EXPECT_THROW(model.hidden_states(g.batch(), 3), zo::Error);
}

TEST_F(ModelFiles, MissingFolderConfigOrWeightsAreErrors) {
  expect_load_error(dir_ / "absent", {"absent", "not found"});
  fs::create_directories(dir_ / "empty");
  expect_load_error(dir_ / "empty", {"config.json", "cannot open"});
  fs::create_directories(dir_ / "noweights");
  fs::copy_file(models_dir / "opt-tied/config.json", dir_ / "noweights/config.json");
  expect_load_error(dir_ / "noweights", {"no model.safetensors"});
}

TEST_F(ModelFiles, MissingTensorNamesFileAndTensor) {
  const fs::path dir = variant("llama-gqa", {}, [](auto& tensors) {
    std::erase_if(tensors, [](const auto& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  expect_load_error(dir, {(dir / "model.safetensors").string(), "'model.layers.1.mlp.up_proj.weight' missing"});
}

TEST_F(ModelFiles, WrongShapeNamesFileTensorAndBothShapes) {
  const fs::path dir = variant("opt-tied", [](auto& config) { config["ffn_dim"] = 128; });
  expect_load_error(dir, {(dir / "model.safetensors").string(), "model.decoder.layers.0.fc1.weight", "[256, 64]",
                          "[128, 64]"});
}

TEST_F(ModelFiles, UntiedModelWithoutHeadIsAnError) {
  const fs::path dir = variant("llama-gqa", [](auto& config) { config["tie_word_embeddings"] = false; },
                               [](auto& tensors) { std::erase_if(tensors, [](const auto& t) { return t.name == "lm_head.weight"; }); });
  expect_load_error(dir, {"'lm_head.weight' missing"});
}

TEST_F(ModelFiles, TiedHeadThatDiffersFromTheEmbeddingIsAnError) {
  std::vector<float> other(1024 * 64, 0.25f);
  const fs::path dir = variant("opt-tied", {}, [&](auto& tensors) {
    tensors.push_back({"lm_head.weight", zo::DType::f32, {1024, 64}, other.data()});
  });
  expect_load_error(dir, {"lm_head.weight", "tie_word_embeddings"});
}

TEST_F(ModelFiles, BadConfigFieldsAreNamed) {
  expect_load_error(variant("opt-tied", [](auto& c) { c["hidden_size"] = "64"; }), {"config.json", "'hidden_size'"});
  expect_load_error(variant("opt-tied", [](auto& c) { c.erase("num_hidden_layers"); }),
                    {"config.json", "'num_hidden_layers' missing"});
  expect_load_error(variant("opt-tied", [](auto& c) { c["word_embed_proj_dim"] = 32; }), {"'word_embed_proj_dim' = 32"});
  expect_load_error(variant("opt-tied", [](auto& c) { c["activation_function"] = "gelu"; }), {"'activation_function'"});
  expect_load_error(variant("llama-gqa", [](auto& c) { c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}}; }),
                    {"'rope_scaling'"});
  expect_load_error(variant("llama-gqa", [](auto& c) { c["num_key_value_heads"] = 3; }), {"'num_key_value_heads' = 3"});
  expect_load_error(variant("llama-gqa", [](auto& c) {
                      c["architectures"] = {"GPT2LMHeadModel"};
                      c["model_type"] = "gpt2";
                    }),
                    {"'architectures'", "GPT2LMHeadModel"});
}

TEST_F(ModelFiles, ShardedIndexPointingAtAMissingShardIsAnError) {
  const fs::path dst = dir_ / "sharded";
  fs::copy(models_dir / "llama-sharded", dst);
  fs::remove(dst / "model-00002-of-00002.safetensors");
  expect_load_error(dst, {"model-00002-of-00002.safetensors", "cannot open"});
}

TEST_F(ModelFiles, OptCheckpointWithoutTheModelPrefixLoadsTheSame) {
  // Older OPT checkpoints name tensors "decoder.layers.0…" (HF's base_model_prefix); from_pretrained
  // accepts them, and so does zo.
  const fs::path dir = variant("opt-tied", {}, [](auto& tensors) {
    for (auto& t : tensors)
      if (t.name.rfind("model.", 0) == 0) t.name = t.name.substr(6);
  });
  ASSERT_EQ(SafeTensors::open(dir / "model.safetensors").find("model.decoder.embed_tokens.weight"), nullptr);
  const Golden g = read_golden("opt-tied");
  EXPECT_EQ(Model::load(dir).forward(g.batch()), Model::load(models_dir / "opt-tied").forward(g.batch()));
}

TEST(ModelForward, ForwardIntoAReusedVectorEqualsTheReturningForm) {
  const Golden g = read_golden("llama-gqa");
  Model model = Model::load(models_dir / "llama-gqa");
  std::vector<float> logits(7, -1.0f);  // wrong size and stale contents: both replaced
  model.forward(g.batch(), logits);
  EXPECT_EQ(logits, model.forward(g.batch()));
  const TokenBatch first_row{1, g.T, std::span(g.tokens).first(std::size_t(g.T)), std::span(g.mask).first(std::size_t(g.T))};
  model.forward(first_row, logits);
  ASSERT_EQ(logits.size(), std::size_t(g.T * g.V));
  EXPECT_EQ(logits, model.forward(first_row));
}
