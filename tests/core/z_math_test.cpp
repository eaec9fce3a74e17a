// z_math.hpp's host side (the code CUDA kernels compile too) against the C++ library's vectorised
// draws, bit for bit, and against double-precision closed forms.
#include "zo/core/philox.hpp"
#include "zo/core/random.hpp"
#include "zo/core/z_math.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <vector>

namespace {

using zo::RandomStream;
using zo::Stream;

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Streams with high seed bits, several tensors and streams, and offsets far into the counter space.
struct Case {
  RandomStream stream;
  std::int64_t begin;
};
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {{0, 0, Stream::value}, 0},
      {{42, zo::tensor_key("layers.3.fc1.weight"), Stream::value}, 7},
      {{0xfedcba9876543210ull, zo::tensor_key("embed"), Stream::mask}, 123457},
      {{1ull << 40, 0xffffffffu, Stream::low_rank_u}, (std::int64_t(1) << 40) + 3},
  };
  return all;
}

TEST(ZMath, PhiloxIsTheLibrarysPhilox) {
  for (std::uint32_t k = 0; k < 1000; ++k) {
    const zo::PhiloxCounter c{k * 2654435761u, ~k, k ^ 0x5a5a5a5au, k << 7};
    const zo::PhiloxKey key{0x9e3779b9u * k, 0xdeadbeefu + k};
    const zo::PhiloxCounter want = zo::philox4x32_10(c, key);
    const zo::zmath::Words got = zo::zmath::philox(c[0], c[1], c[2], c[3], key[0], key[1]);
    for (int j = 0; j < 4; ++j) ASSERT_EQ(got.w[j], want[std::size_t(j)]) << "counter " << k << " word " << j;
  }
}

TEST(ZMath, NormalsEqualTheLibrarysBitForBit) {
  constexpr std::int64_t n = 1 << 20;
  std::vector<float> want(n);
  for (const Case& c : cases()) {
    zo::fill_normal(c.stream, c.begin, n, want.data());
    const auto& s = c.stream;
    for (std::int64_t k = 0; k < n; ++k) {
      const float got = zo::zmath::normal_at(s.seed, s.tensor, std::uint32_t(s.stream), std::uint64_t(c.begin + k));
      ASSERT_EQ(bits(got), bits(want[std::size_t(k)])) << "seed " << s.seed << " element " << c.begin + k;
    }
  }
}

TEST(ZMath, WordsSignsAndGapsEqualTheLibrarys) {
  constexpr std::int64_t n = 1 << 18;
  std::vector<std::uint32_t> words(n), gaps(n);
  std::vector<float> signs(n);
  for (const Case& c : cases()) {
    const auto& s = c.stream;
    const auto id = std::uint32_t(s.stream);
    zo::fill_bits(s, c.begin, n, words.data());
    zo::fill_rademacher(s, c.begin, n, signs.data());
    for (std::int64_t k = 0; k < n; ++k) {
      const auto i = std::uint64_t(c.begin + k);
      ASSERT_EQ(zo::zmath::word_at(s.seed, s.tensor, id, i), words[std::size_t(k)]) << "word " << i;
      ASSERT_EQ(bits(zo::zmath::rademacher_at(s.seed, s.tensor, id, i)), bits(signs[std::size_t(k)])) << "sign " << i;
    }
    for (const double p : {0.5, 0.1, 0.01, 1e-6}) {
      zo::fill_gaps(s, c.begin, n, p, gaps.data());
      const float scale = float(1.0 / (-2.0 * std::log1p(-p)));  // random.hpp's c
      for (std::int64_t k = 0; k < n; ++k) {
        const std::uint32_t w = words[std::size_t(k)];
        ASSERT_EQ(zo::zmath::gap_of(w, scale), gaps[std::size_t(k)]) << "p " << p << " element " << c.begin + k;
      }
    }
  }
}

// The transforms against double precision, over words spread across all of [0, 2^32) and its ends.
TEST(ZMath, TransformsMatchDoublePrecisionClosedForms) {
  std::vector<std::uint32_t> ws = {0u, 1u, 2u, 0x7ffffffeu, 0x7fffffffu, 0x80000000u, 0x80000001u, 0xfffffffeu, 0xffffffffu};
  for (std::uint64_t k = 0; k < 4096; ++k) ws.push_back(std::uint32_t(k * 1048573u + 12345u));
  for (const std::uint32_t w : ws) {
    const double u = (double(w) + 0.5) * 0x1p-32;
    const double log_ref = -2.0 * std::log(u);
    const float got = zo::zmath::minus_two_log_u1(w);
    EXPECT_NEAR(got, log_ref, 3e-7 * log_ref + 1e-12) << "word " << w;
    float c, s;
    zo::zmath::cos_sin_turns(w, c, s);
    const double angle = 2.0 * std::numbers::pi * double(w) * 0x1p-32;
    EXPECT_NEAR(c, std::cos(angle), 2e-7) << "word " << w;
    EXPECT_NEAR(s, std::sin(angle), 2e-7) << "word " << w;
  }
}

}  // namespace
