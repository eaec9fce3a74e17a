#include "zo/train/lora.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace {

struct Weights {
  std::vector<float> q = std::vector<float>(4 * 6), k = std::vector<float>(4 * 6), v = std::vector<float>(5 * 6);
  zo::ParamSet set;
  Weights() {
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = 0.1f * float(i);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = -0.05f * float(i);
    set.add("model.layers.0.self_attn.q_proj.weight", zo::DType::f32, {4, 6}, q.data());
    set.add("model.layers.0.self_attn.k_proj.weight", zo::DType::f32, {4, 6}, k.data());
    set.add("model.layers.1.self_attn.v_proj.weight", zo::DType::f32, {5, 6}, v.data());
    set.add("model.layers.1.self_attn.v_proj.bias", zo::DType::f32, {5}, v.data());
  }
};

TEST(Lora, AdaptsQAndVWithPeftNamesOneBlockPerLayerAndKaimingUniformA) {
  Weights w;
  zo::LoraAdapters lora(w.set, {.rank = 2, .alpha = 4.0, .target = "(q_proj|v_proj)\\.weight$", .init_seed = 3});
  EXPECT_EQ(lora.targets(), 2u);
  const auto& p = lora.params();
  ASSERT_EQ(p.params().size(), 4u);
  EXPECT_EQ(p.param(0).name, "model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(p.param(0).shape, (std::vector<std::int64_t>{2, 6}));
  EXPECT_EQ(p.param(1).name, "model.layers.0.self_attn.q_proj.lora_B.weight");
  EXPECT_EQ(p.param(1).shape, (std::vector<std::int64_t>{4, 2}));
  ASSERT_EQ(p.blocks().size(), 2u);
  EXPECT_EQ(p.blocks()[0].name, "layers.0");
  EXPECT_EQ(p.blocks()[1].name, "layers.1");
  const float* a = static_cast<const float*>(p.param(0).data);
  bool any_nonzero = false;
  for (int i = 0; i < 12; ++i) {
    EXPECT_LE(std::fabs(a[i]), 1.0f / std::sqrt(6.0f));
    any_nonzero |= a[i] != 0.0f;
  }
  EXPECT_TRUE(any_nonzero);
  const float* b = static_cast<const float*>(p.param(1).data);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(b[i], 0.0f);
}

TEST(Lora, MergeWritesW0PlusScaledBTimesAIntoTheModelAndOnlyForTheGivenBlocks) {
  Weights w;
  const auto q0 = w.q, v0 = w.v;
  zo::LoraAdapters lora(w.set, {.rank = 2, .alpha = 4.0, .target = "(q_proj|v_proj)\\.weight$", .init_seed = 3});
  lora.merge();
  EXPECT_EQ(w.q, q0);  // B = 0: W_eff = W₀ exactly
  auto& p = lora.params();
  float* a = static_cast<float*>(p.param(0).data);
  float* b = static_cast<float*>(p.param(1).data);
  for (int i = 0; i < 8; ++i) b[i] = 0.25f * float(i + 1);
  float* bv = static_cast<float*>(p.param(3).data);
  bv[0] = 1.0f;
  lora.merge(std::vector<std::uint32_t>{0});
  for (int o = 0; o < 4; ++o) {
    for (int i = 0; i < 6; ++i) {
      double expected = q0[std::size_t(o * 6 + i)];
      for (int r = 0; r < 2; ++r) expected += 2.0 * double(b[o * 2 + r]) * double(a[r * 6 + i]);  // α/r = 2
      EXPECT_NEAR(w.q[std::size_t(o * 6 + i)], expected, 1e-6);
    }
  }
  EXPECT_EQ(w.v, v0);  // layer 1 not merged
  lora.merge();
  EXPECT_NE(w.v, v0);
  EXPECT_GT(lora.bytes(), 0);
}

TEST(Lora, NoTargetOrATooLargeRankAreErrors) {
  Weights w;
  EXPECT_THROW(zo::LoraAdapters(w.set, {.rank = 2, .alpha = 4.0, .target = "nothing", .init_seed = 0}), zo::Error);
  EXPECT_THROW(zo::LoraAdapters(w.set, {.rank = 5, .alpha = 4.0, .target = "q_proj", .init_seed = 0}), zo::Error);
  EXPECT_THROW(zo::LoraAdapters(w.set, {.rank = 0, .alpha = 4.0, .target = "q_proj", .init_seed = 0}), zo::Error);
  EXPECT_THROW(zo::LoraAdapters(w.set, {.rank = 1, .alpha = 4.0, .target = "(", .init_seed = 0}), zo::Error);
}

}  // namespace
