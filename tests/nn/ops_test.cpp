// The CPU ops against closed forms and a naive attention written out in the test.
#include "zo/nn/ops.hpp"
#include "zo/nn/op_profile.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

using namespace zo::nn;

namespace {
WeightRef f32(const std::vector<float>& v) { return WeightRef{v.data(), zo::DType::f32}; }
}  // namespace

TEST(Ops, LayerNormOfOneTwoThreeIsTheClosedForm) {
  // mean 2, biased variance 2/3: (x − 2)/sqrt(2/3 + eps) · w + b
  std::vector<float> x = {1, 2, 3}, w = {1, 2, 0.5f}, b = {0, 1, -1}, y(3);
  ops::Scratch scratch;
  ops::layernorm(y.data(), x.data(), f32(w), f32(b), 1, 3, 1e-5f, scratch);
  const double s = std::sqrt(2.0 / 3.0 + 1e-5);
  EXPECT_NEAR(y[0], -1 / s * 1 + 0, 1e-6);
  EXPECT_NEAR(y[1], 0 * 2 + 1, 1e-6);
  EXPECT_NEAR(y[2], 1 / s * 0.5 - 1, 1e-6);
}

TEST(Ops, RmsNormOfAConstantRowIsTheWeight) {
  std::vector<float> x(8, -3.0f), w = {1, 2, 3, 4, 5, 6, 7, 8}, y(8);
  ops::Scratch scratch;
  ops::rmsnorm(y.data(), x.data(), f32(w), 1, 8, 0.0f, scratch);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y[i], -w[i], 1e-6);
}

TEST(Ops, MatmulWithBf16WeightsAndBiasEqualsTheHandProduct) {
  // w (2, 3) = [[1, 2, 3], [−1, 0, 0.5]] in bf16 (exact), bias (2) = [0.25, −1]
  const std::vector<std::uint16_t> w = {0x3F80, 0x4000, 0x4040, 0xBF80, 0x0000, 0x3F00};
  const std::vector<float> bias = {0.25f, -1.0f}, x = {1, 1, 1, 2, 0, -2};
  std::vector<float> y(4);
  ops::Scratch scratch;
  ops::matmul(y.data(), x.data(), WeightRef{w.data(), zo::DType::bf16}, f32(bias), 2, 3, 2, scratch);
  EXPECT_FLOAT_EQ(y[0], 6.25f);   // 1+2+3 + 0.25
  EXPECT_FLOAT_EQ(y[1], -1.5f);   // −1+0+0.5 − 1
  EXPECT_FLOAT_EQ(y[2], -3.75f);  // 2−6 + 0.25
  EXPECT_FLOAT_EQ(y[3], -4.0f);   // −2−1 − 1
}

TEST(Ops, RopeAtPositionZeroIsIdentityAndRotatesPairsByPTheta) {
  // HD = 4: pairs (0, 2) at frequency 1 and (1, 3) at theta^(−1/2).
  std::vector<float> x = {1, 2, 3, 4, 1, 2, 3, 4};
  const std::vector<std::int32_t> pos = {0, 3};
  ops::rope(x.data(), pos.data(), 2, 1, 4, 100.0f);
  EXPECT_FLOAT_EQ(x[0], 1);
  EXPECT_FLOAT_EQ(x[3], 4);
  const double a = 3.0, b = 3.0 / 10.0;  // angles p·1 and p·100^(−1/2)
  EXPECT_NEAR(x[4], 1 * std::cos(a) - 3 * std::sin(a), 1e-5);
  EXPECT_NEAR(x[6], 3 * std::cos(a) + 1 * std::sin(a), 1e-5);
  EXPECT_NEAR(x[5], 2 * std::cos(b) - 4 * std::sin(b), 1e-5);
  EXPECT_NEAR(x[7], 4 * std::cos(b) + 2 * std::sin(b), 1e-5);
}

TEST(Ops, AttentionEqualsANaiveMaskedSoftmaxWithGroupedHeads) {
  const std::int64_t B = 2, T = 5, NH = 4, NKV = 2, HD = 3;
  std::vector<float> q(B * T * NH * HD), k(B * T * NKV * HD), v(B * T * NKV * HD), out(B * T * NH * HD);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.7 * double(i));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(1.3 * double(i));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i % 7) - 3.0f;
  const std::vector<std::int32_t> mask = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0};  // row 1: keys 1 and 4 padded
  const float scale = 0.5f;
  ops::attention(out.data(), q.data(), k.data(), v.data(), mask.data(), B, T, NH, NKV, HD, scale);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t h = 0; h < NH; ++h) {
        const std::int64_t g = h / (NH / NKV);
        std::vector<double> w(T, 0.0);
        double max = -1e300, sum = 0;
        for (std::int64_t s = 0; s <= t; ++s) {
          if (!mask[b * T + s]) continue;
          double dot = 0;
          for (std::int64_t d = 0; d < HD; ++d) dot += q[((b * T + t) * NH + h) * HD + d] * k[((b * T + s) * NKV + g) * HD + d];
          w[s] = scale * dot;
          max = std::max(max, w[s]);
        }
        for (std::int64_t s = 0; s <= t; ++s) sum += mask[b * T + s] ? std::exp(w[s] - max) : 0.0;
        for (std::int64_t d = 0; d < HD; ++d) {
          double expected = 0;
          for (std::int64_t s = 0; s <= t; ++s)
            if (mask[b * T + s]) expected += std::exp(w[s] - max) / sum * v[((b * T + s) * NKV + g) * HD + d];
          EXPECT_NEAR(out[((b * T + t) * NH + h) * HD + d], expected, 1e-5) << b << " " << t << " " << h << " " << d;
        }
      }
}

TEST(Ops, CrossEntropyOfUniformLogitsIsLogV) {
  std::vector<float> logits(2 * 50, 0.25f);
  const std::vector<std::int32_t> labels = {0, 49};
  std::vector<double> out(2);
  ops::cross_entropy(out.data(), logits.data(), labels.data(), 2, 50);
  EXPECT_NEAR(out[0], std::log(50.0), 1e-12);
  EXPECT_NEAR(out[1], std::log(50.0), 1e-12);
  const std::vector<std::int32_t> bad = {0, 50};
  EXPECT_THROW(ops::cross_entropy(out.data(), logits.data(), bad.data(), 2, 50), zo::Error);
}

TEST(Ops, SiluMulAndReluAreTheirDefinitions) {
  std::vector<float> x = {-2, 0, 1.5f}, y = {3, 4, -1};
  ops::silu_mul(x.data(), y.data(), 3);
  EXPECT_NEAR(x[0], -2 / (1 + std::exp(2.0)) * 3, 1e-6);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_NEAR(x[2], 1.5 / (1 + std::exp(-1.5)) * -1, 1e-6);
  std::vector<float> r = {-1, 0, 2};
  ops::relu(r.data(), 3);
  EXPECT_EQ(r, (std::vector<float>{0, 0, 2}));
}

TEST(Ops, EmbeddingRejectsTokensOutsideTheVocabulary) {
  std::vector<float> table(4 * 2, 1.0f), out(2);
  const std::vector<std::int32_t> bad = {4};
  EXPECT_THROW(ops::embedding(out.data(), bad.data(), f32(table), 1, 2, 4), zo::Error);
}

TEST(OpProfile, CountsEachOperationWhileRecordingAndNothingAfter) {
  std::vector<float> x(64, 1.0f), y(64, 2.0f), out(4 * 3);
  const std::vector<float> w(3 * 16, 0.5f);
  ops::Scratch scratch;
  ops::add(x.data(), y.data(), 64);  // before recording: not counted
  op_profile_start();
  ops::add(x.data(), y.data(), 64);
  ops::add(x.data(), y.data(), 64);
  ops::matmul(out.data(), x.data(), WeightRef{w.data(), zo::DType::f32}, {}, 4, 16, 3, scratch);
  const auto totals = op_profile_stop();
  ops::add(x.data(), y.data(), 64);  // after: not counted
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals[0].op, "add");
  EXPECT_EQ(totals[0].calls, 2);
  EXPECT_EQ(totals[1].op, "matmul");
  EXPECT_EQ(totals[1].width, 3);  // a product is recorded under its output width
  EXPECT_EQ(totals[1].calls, 1);
  for (const auto& t : totals) EXPECT_GE(t.seconds, 0.0);
  EXPECT_FLOAT_EQ(x[0], 9.0f);  // every add ran, recorded or not: 1 + 4 · 2

  op_profile_start();  // a new recording starts from zero
  EXPECT_TRUE(op_profile_stop().empty());
}

TEST(Ops, MatvecWithBf16WeightsAndBiasEqualsTheHandProduct) {
  // The same w and bias as the matmul test, one row x = (2, 0, −2).
  const std::vector<std::uint16_t> w = {0x3F80, 0x4000, 0x4040, 0xBF80, 0x0000, 0x3F00};
  const std::vector<float> bias = {0.25f, -1.0f}, x = {2, 0, -2};
  std::vector<float> y(2);
  ops::Scratch scratch;
  ops::matvec(y.data(), x.data(), WeightRef{w.data(), zo::DType::bf16}, f32(bias), 3, 2, scratch);
  EXPECT_FLOAT_EQ(y[0], -3.75f);
  EXPECT_FLOAT_EQ(y[1], -4.0f);
  ops::matvec(y.data(), x.data(), WeightRef{w.data(), zo::DType::bf16}, {}, 3, 2, scratch);  // no bias
  EXPECT_FLOAT_EQ(y[0], -4.0f);
  EXPECT_FLOAT_EQ(y[1], -3.0f);
}

TEST(Ops, CachedAttentionEqualsTheFullAttentionAtTheNewPositions) {
  // T = 7 positions, 4 query heads sharing 2 kv heads, HD 3: the last n rows of attention() over all
  // 7 equal attention_cached() of those n queries over the 7 keys (past = 7 − n).
  const std::int64_t T = 7, NH = 4, NKV = 2, HD = 3;
  std::vector<float> q(T * NH * HD), k(T * NKV * HD), v(T * NKV * HD);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.7f * float(i));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.3f * float(i));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i % 5) - 2.0f;
  std::vector<float> full(T * NH * HD);
  ops::attention(full.data(), q.data(), k.data(), v.data(), nullptr, 1, T, NH, NKV, HD, 0.5f);
  for (std::int64_t n : {1, 3, 7}) {
    std::vector<float> out(n * NH * HD);
    ops::attention_cached(out.data(), q.data() + (T - n) * NH * HD, k.data(), v.data(), n, T - n, NH, NKV, HD, 0.5f);
    for (std::int64_t i = 0; i < n * NH * HD; ++i) EXPECT_EQ(out[i], full[(T - n) * NH * HD + i]) << n << " " << i;
  }
}

// A row's product depends on that row alone, bit for bit, whatever the other rows and their number:
// what makes micro-batches and MPI ranks give the whole batch's losses (docs/distributed.md). The
// probe matmul_is_row_invariant must say whether it holds with this process's BLAS kernels; ctest
// runs this again under OpenBLAS's Haswell kernels, where it does not.
TEST(Ops, MatmulRowInvarianceIsWhatItsProbeSays) {
  bool invariant = true;
  for (const auto& [C, OC] : {std::pair<std::int64_t, std::int64_t>{96, 80}, {768, 200}, {33, 7}}) {
    const std::int64_t N = 3 * ops::kMatmulRows + 7;
    std::vector<float> in(static_cast<std::size_t>(N * C)), w(static_cast<std::size_t>(OC * C)),
        bias(static_cast<std::size_t>(OC));
    std::uint32_t state = 7;
    for (auto* v : {&in, &w, &bias})
      for (float& x : *v) {
        state = state * 1664525u + 1013904223u;
        x = float(state >> 8) / float(1u << 24) - 0.5f;
      }
    ops::Scratch scratch;
    const WeightRef wr{w.data(), zo::DType::f32}, br{bias.data(), zo::DType::f32};
    std::vector<float> all(static_cast<std::size_t>(N * OC));
    ops::matmul(all.data(), in.data(), wr, br, N, C, OC, scratch);
    for (const auto& [first, rows] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {0, 1}, {5, 3}, {0, ops::kMatmulRows}, {ops::kMatmulRows - 2, 40}, {N - 7, 7}, {1, N - 1}}) {
      std::vector<float> part(static_cast<std::size_t>(rows * OC));
      ops::matmul(part.data(), in.data() + first * C, wr, br, rows, C, OC, scratch);
      invariant = invariant && std::equal(part.begin(), part.end(), all.begin() + std::ptrdiff_t(first * OC));
    }
  }
  EXPECT_EQ(ops::matmul_is_row_invariant(), invariant);
}
