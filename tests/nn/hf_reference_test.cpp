// zo's forward engine against Hugging Face transformers itself, not against zo's own PyTorch
// reimplementation: goldens from scripts/make_hf_goldens.py (transformers 5.17 AutoModelForCausalLM,
// float64 on the CPU of a machine where transformers is installed) for the five test models, each on a
// batch with a right-padded and a left-padded row. transformers gives NaN logits at padded positions
// (their queries see no key), so only real positions are compared, and the labels leave out the
// tokens that a padded position predicts. The pretrained model models/opt-text-proto has no
// transformers golden here: making one needs a machine with transformers installed, which the build
// machine lacks. tests/tasks/opt_text_score_test.cpp holds it to the PyTorch reference
// (scripts/nn_reference.py, HF's OPT math) instead.
#include "zo/nn/model.hpp"
#include "zo/nn/safetensors.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::nn::Model;
using zo::nn::SafeTensors;

namespace {

const fs::path kRoot = fs::path(ZO_SOURCE_DIR);

struct HfGolden {
  std::int64_t B = 0, T = 0, columns = 0;  // logits keep the first `columns` vocabulary entries
  std::vector<std::int32_t> tokens, mask, labels;
  std::vector<float> logits;
  double loss = 0;
};

std::vector<float> floats(const SafeTensors& st, const std::string& name) {
  const auto& t = st.at(name);
  std::vector<float> out(std::size_t(t.numel()));
  std::memcpy(out.data(), t.data, t.nbytes);
  return out;
}

HfGolden read(const std::string& name) {
  SafeTensors st = SafeTensors::open(kRoot / "tests/data/models/goldens/hf" / (name + ".safetensors"));
  EXPECT_EQ(st.metadata().at("transformers").substr(0, 2), "5.");
  HfGolden g;
  const auto& shape = st.at("logits").shape;
  g.B = shape[0], g.T = shape[1], g.columns = shape[2];
  auto ints = [&](const std::string& key) {
    const std::vector<float> v = floats(st, key);
    return std::vector<std::int32_t>(v.begin(), v.end());
  };
  g.tokens = ints("tokens");
  g.mask = ints("mask");
  g.labels = ints("labels");
  g.logits = floats(st, "logits");
  g.loss = floats(st, "loss")[0];
  return g;
}

fs::path folder(const std::string& name) { return kRoot / "tests/data/models" / name; }

class HfReference : public ::testing::TestWithParam<std::string> {};

// Per row: max over real positions and kept columns of |zo − HF|, over the max |HF| there; the worst row.
TEST_P(HfReference, LogitsAtRealPositionsMatchTransformersToRelativeError1e4) {
  const HfGolden g = read(GetParam());
  Model model = Model::load(folder(GetParam()));
  const std::int64_t V = model.config().vocab_size;
  ASSERT_LE(g.columns, V);
  const std::vector<float> logits = model.forward({g.B, g.T, g.tokens, g.mask});
  ASSERT_EQ(std::int64_t(logits.size()), g.B * g.T * V);
  double worst = 0;
  std::int64_t compared = 0;
  for (std::int64_t b = 0; b < g.B; ++b) {
    double diff = 0, scale = 0;
    for (std::int64_t t = 0; t < g.T; ++t) {
      if (g.mask[std::size_t(b * g.T + t)] == 0) continue;
      for (std::int64_t v = 0; v < g.columns; ++v) {
        const float ref = g.logits[std::size_t((b * g.T + t) * g.columns + v)];
        ASSERT_TRUE(std::isfinite(ref)) << "HF logit at real position b " << b << " t " << t;
        diff = std::max(diff, double(std::fabs(logits[std::size_t((b * g.T + t) * V + v)] - ref)));
        scale = std::max(scale, double(std::fabs(ref)));
        ++compared;
      }
    }
    worst = std::max(worst, diff / scale);
  }
  RecordProperty("worst_row_relative_error", std::to_string(worst));
  EXPECT_GT(compared, 0);
  EXPECT_LE(worst, 1e-4);
}

TEST_P(HfReference, LossMatchesTransformersOwnLoss) {
  const HfGolden g = read(GetParam());
  Model model = Model::load(folder(GetParam()));
  const zo::nn::LossResult loss = model.loss({g.B, g.T, g.tokens, g.mask}, g.labels);
  ASSERT_GT(loss.count, 0);
  EXPECT_NEAR(loss.mean, g.loss, 1e-5 * g.loss);
}

INSTANTIATE_TEST_SUITE_P(Nn, HfReference,
                         ::testing::Values("opt-tied", "opt-postnorm-f16", "llama-gqa", "llama-tied-bf16", "llama-sharded"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

}  // namespace
