// Random streams: tensor keys, seeds, and the value transforms against double-precision references.
#include "zo/util/error.hpp"
#include "zo/core/philox.hpp"
#include "zo/core/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace {

using zo::RandomStream;
using zo::Stream;

TEST(TensorKey, IsFnv1a32) {
  // Published FNV-1a 32-bit test values (Fowler/Noll/Vo reference test suite).
  EXPECT_EQ(zo::tensor_key(""), 0x811c9dc5u);
  EXPECT_EQ(zo::tensor_key("a"), 0xe40c292cu);
  EXPECT_EQ(zo::tensor_key("foobar"), 0xbf9cf968u);
}

TEST(DeriveSeed, IsAPureFunctionThatSeparatesItsInputs) {
  EXPECT_EQ(zo::derive_seed(1, 2, 3), zo::derive_seed(1, 2, 3));
  EXPECT_NE(zo::derive_seed(1, 2, 3), zo::derive_seed(1, 2, 4));
  EXPECT_NE(zo::derive_seed(1, 2), zo::derive_seed(1, 3));
  EXPECT_NE(zo::derive_seed(1, 2), zo::derive_seed(2, 2));
  EXPECT_NE(zo::derive_seed(1ull << 40, 2), zo::derive_seed(0, 2));  // high bits of the run seed count
  EXPECT_NE(zo::derive_seed(1, 1ull << 40), zo::derive_seed(1, 0));
}

// Double-precision Box-Muller on the Philox words of the element, per random.hpp.
double reference_normal(const RandomStream& s, std::int64_t i) {
  const std::uint64_t c = std::uint64_t(i) / 4;
  const zo::PhiloxCounter w =
      zo::philox4x32_10({std::uint32_t(c), std::uint32_t(c >> 32), std::uint32_t(s.seed >> 32), std::uint32_t(s.stream)},
                        {std::uint32_t(s.seed), s.tensor});
  const int pair = int(i % 4) / 2;
  const double u1 = (double(w[std::size_t(2 * pair)]) + 0.5) * 0x1p-32;
  const double u2 = double(w[std::size_t(2 * pair + 1)]) * 0x1p-32;
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  return i % 2 == 0 ? r * std::cos(angle) : r * std::sin(angle);
}

TEST(FillNormal, MatchesDoublePrecisionBoxMullerToFloatAccuracy) {
  const RandomStream s{2024, zo::tensor_key("w"), Stream::value};
  const std::int64_t n = 1 << 20;
  std::vector<float> z(n);
  zo::fill_normal(s, 0, n, z.data());
  double worst = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double ref = reference_normal(s, i);
    worst = std::max(worst, std::abs(double(z[std::size_t(i)]) - ref) / std::max(std::abs(ref), 1e-3));
  }
  EXPECT_LT(worst, 1e-6);
}

TEST(FillNormal, IsAccurateAtTheExtremesOfU1) {
  // Words 0 (largest radius) and 0xffffffff (u1 closest to 1, smallest radius) and the octant edges
  // of the angle, found by scanning elements whose words hit those ranges.
  const RandomStream s{5, 6, Stream::value};
  const std::int64_t n = 1 << 22;
  std::vector<std::uint32_t> w(n);
  zo::fill_bits(s, 0, n, w.data());
  int checked = 0;
  for (std::int64_t i = 0; i < n; i += 2) {
    const std::uint32_t a = w[std::size_t(i)];
    if (a < (1u << 12) || a > 0xffffffffu - (1u << 12) || (a > 0x7ffff000u && a < 0x80001000u)) {
      for (std::int64_t k = i; k < i + 2; ++k) {
        const double ref = reference_normal(s, k);
        const double got = zo::normal_at(s, k);
        EXPECT_LE(std::abs(got - ref), 1e-6 * std::max(std::abs(ref), 1e-3)) << "element " << k << " word " << a;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(FillNormal, AgreesWithNormalAtBitForBitForOddOffsets) {
  const RandomStream s{31337, 99, Stream::low_rank_u};
  for (const std::int64_t begin : {0, 1, 2, 3, 61, 64, 127, 4099}) {
    for (const std::int64_t n : {1, 2, 5, 63, 64, 65, 333}) {
      std::vector<float> z(static_cast<std::size_t>(n));
      zo::fill_normal(s, begin, n, z.data());
      for (std::int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(z[std::size_t(k)]), std::bit_cast<std::uint32_t>(zo::normal_at(s, begin + k)))
            << "begin " << begin << " k " << k;
      }
    }
  }
}

TEST(FillNormal, DoesNotDependOnHowTheRangeIsSplit) {
  const RandomStream s{1, 2, Stream::value};
  std::vector<float> whole(1000), parts(1000);
  zo::fill_normal(s, 17, 1000, whole.data());
  std::int64_t done = 0;
  for (const std::int64_t len : {1, 6, 33, 100, 259, 601}) {
    zo::fill_normal(s, 17 + done, len, parts.data() + done);
    done += len;
  }
  ASSERT_EQ(done, 1000);
  EXPECT_EQ(whole, parts);
}

TEST(FillNormal, HasStandardNormalMomentsAndDistribution) {
  const RandomStream s{123456789, zo::tensor_key("layers.0.w"), Stream::value};
  const std::int64_t n = 1 << 21;
  std::vector<float> z(n);
  zo::fill_normal(s, 0, n, z.data());
  double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
  for (const float v : z) {
    const double x = v;
    m1 += x;
    m2 += x * x;
    m3 += x * x * x;
    m4 += x * x * x * x;
  }
  m1 /= n;
  m2 /= n;
  m3 /= n;
  m4 /= n;
  // Standard errors: mean 1/√n, E[x²] √2/√n, E[x³] √15/√n, E[x⁴] √96/√n; bounds at ~5 σ.
  const double se = 1.0 / std::sqrt(double(n));
  EXPECT_NEAR(m1, 0.0, 5 * se);
  EXPECT_NEAR(m2, 1.0, 5 * std::sqrt(2.0) * se);
  EXPECT_NEAR(m3, 0.0, 5 * std::sqrt(15.0) * se);
  EXPECT_NEAR(m4, 3.0, 5 * std::sqrt(96.0) * se);
  // Kolmogorov–Smirnov distance to Φ: the 0.001 critical value is 1.95/√n.
  std::sort(z.begin(), z.end());
  double ks = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-double(z[std::size_t(i)]) / std::numbers::sqrt2);
    ks = std::max({ks, std::abs(cdf - double(i) / n), std::abs(cdf - double(i + 1) / n)});
  }
  EXPECT_LT(ks, 1.95 * se);
}

TEST(FillNormal, StreamsSeedsAndTensorsAreIndependent) {
  const std::int64_t n = 1 << 16;
  std::vector<float> a(n), b(n);
  auto correlation = [&](RandomStream x, RandomStream y) {
    zo::fill_normal(x, 0, n, a.data());
    zo::fill_normal(y, 0, n, b.data());
    double dot = 0;
    for (std::int64_t i = 0; i < n; ++i) dot += double(a[std::size_t(i)]) * b[std::size_t(i)];
    return dot / n;
  };
  const double bound = 5.0 / std::sqrt(double(n));
  EXPECT_LT(std::abs(correlation({1, 2, Stream::value}, {1, 2, Stream::mask})), bound);
  EXPECT_LT(std::abs(correlation({1, 2, Stream::value}, {2, 2, Stream::value})), bound);
  EXPECT_LT(std::abs(correlation({1, 2, Stream::value}, {1, 3, Stream::value})), bound);
  EXPECT_LT(std::abs(correlation({1, 2, Stream::value}, {1 + (1ull << 32), 2, Stream::value})), bound);
}

TEST(FillUniform, IsTheTop24BitsOfEachWord) {
  const RandomStream s{8, 9, Stream::mask};
  std::vector<float> u(301);
  zo::fill_uniform(s, 3, 301, u.data());
  for (std::int64_t k = 0; k < 301; ++k) {
    const std::uint32_t w = zo::bits_at(s, 3 + k);
    EXPECT_EQ(double(u[std::size_t(k)]), double(w >> 8) / 16777216.0);
    EXPECT_GE(u[std::size_t(k)], 0.0f);
    EXPECT_LT(u[std::size_t(k)], 1.0f);
  }
}

TEST(FillRademacher, IsBitIMod32OfWordIOver32) {
  const RandomStream s{8, 9, Stream::value};
  const std::int64_t n = 1 << 16;
  std::vector<float> r(n);
  zo::fill_rademacher(s, 5, n, r.data());
  double sum = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = 5 + k;
    const std::uint32_t w = zo::bits_at(s, i / 32);
    ASSERT_EQ(r[std::size_t(k)], ((w >> (i % 32)) & 1u) ? -1.0f : 1.0f) << i;
    sum += r[std::size_t(k)];
  }
  EXPECT_LT(std::abs(sum / n), 5.0 / std::sqrt(double(n)));
}

TEST(FillRademacher, AnyRangeIsTheSliceOfTheWholeFill) {
  const RandomStream s{123, 456, Stream::low_rank_v};
  const std::int64_t total = 3 * 4096 + 77;
  std::vector<float> whole(total);
  zo::fill_rademacher(s, 0, total, whole.data());
  for (const std::int64_t begin : {0, 1, 31, 32, 33, 100, 2047, 2048, 4095, 4096, 4097, 8191}) {
    for (const std::int64_t n : {1, 2, 31, 32, 33, 64, 65, 2048, 4096, 4099}) {
      if (begin + n > total) continue;
      std::vector<float> part(static_cast<std::size_t>(n));
      zo::fill_rademacher(s, begin, n, part.data());
      for (std::int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(part[std::size_t(k)], whole[std::size_t(begin + k)]) << "begin " << begin << " n " << n << " k " << k;
      }
    }
  }
  // Pieces that are not multiples of 32 reassemble the whole.
  std::vector<float> parts(total);
  std::int64_t done = 0;
  for (const std::int64_t len : {7, 45, 1000, 33, 5000, 3}) {
    zo::fill_rademacher(s, done, len, parts.data() + done);
    done += len;
  }
  zo::fill_rademacher(s, done, total - done, parts.data() + done);
  EXPECT_EQ(parts, whole);
}

TEST(FillGaps, AreFloorOfLogURatioWithGeometricLaw) {
  const RandomStream s{77, 5, Stream::mask};
  for (const double p : {0.01, 0.1, 0.5, 0.9}) {
    const std::int64_t n = 200000;
    std::vector<std::uint32_t> gaps(n);
    zo::fill_gaps(s, 3, n, p, gaps.data());
    double sum = 0;
    std::int64_t off_by_one = 0;
    for (std::int64_t k = 0; k < n; ++k) {
      const double u = (double(zo::bits_at(s, 3 + k)) + 0.5) * 0x1p-32;
      const double exact = std::floor(std::log(u) / std::log1p(-p));
      const double got = gaps[std::size_t(k)];
      // Float rounding may move a value that lies next to an integer by one.
      ASSERT_LE(std::abs(got - exact), 1.0) << "p " << p << " k " << k;
      off_by_one += got != exact ? 1 : 0;
      sum += got;
    }
    EXPECT_LT(off_by_one, n / 1000) << p;
    // Mean (1 − p)/p, standard deviation √(1 − p)/p.
    const double mean = (1 - p) / p;
    EXPECT_NEAR(sum / double(n), mean, 5 * std::sqrt(1 - p) / p / std::sqrt(double(n))) << p;
    // A range is the slice of the whole.
    std::vector<std::uint32_t> part(101);
    zo::fill_gaps(s, 3 + 999, 101, p, part.data());
    for (int k = 0; k < 101; ++k) ASSERT_EQ(part[std::size_t(k)], gaps[std::size_t(999 + k)]);
  }
  std::vector<std::uint32_t> ones(50);
  zo::fill_gaps(s, 0, 50, 1.0, ones.data());
  for (const std::uint32_t g : ones) EXPECT_EQ(g, 0u);
  EXPECT_THROW(zo::fill_gaps(s, 0, 50, 0.0, ones.data()), zo::Error);
  EXPECT_THROW(zo::fill_gaps(s, 0, 50, 1.5, ones.data()), zo::Error);
}

TEST(FillNormal, RejectsNegativeRanges) {
  float out[4];
  EXPECT_THROW(zo::fill_normal({1, 2, Stream::value}, -1, 2, out), zo::Error);
  EXPECT_THROW(zo::fill_uniform({1, 2, Stream::value}, 0, -2, out), zo::Error);
  EXPECT_THROW(zo::normal_at({1, 2, Stream::value}, -5), zo::Error);
}

}  // namespace
