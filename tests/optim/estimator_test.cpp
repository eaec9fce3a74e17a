// The two-point estimators: unbiasedness (E[ρz] ≈ ∇f, checked statistically), the in-place
// protocol's restore (also on throw and NaN), evaluation counts, seeds.
#include "zo/optim/estimator.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace zo {
namespace {

// f(θ) = ½ Σ c_i θ_i² + Σ b_i θ_i,  ∇f = c ⊙ θ + b.
struct Quadratic {
  std::vector<float> theta{0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f};
  std::vector<double> c{1.0, 2.0, 0.5, 3.0, 1.5, 1.0};
  std::vector<double> b{0.3, -0.2, 0.1, 0.0, 0.4, -0.6};
  ParamSet params;
  int calls = 0;
  Quadratic() { params.add("theta", DType::f32, {std::int64_t(theta.size())}, theta.data()); }
  double operator()() {
    ++calls;
    double f = 0.0;
    for (std::size_t i = 0; i < theta.size(); ++i) f += 0.5 * c[i] * theta[i] * theta[i] + b[i] * theta[i];
    return f;
  }
  double grad(std::size_t i) const { return c[i] * theta[i] + b[i]; }
};

struct MeanCase {
  Difference difference;
  Distribution distribution;
};

class EstimatorMean : public ::testing::TestWithParam<MeanCase> {};

TEST_P(EstimatorMean, RhoTimesZAveragesToTheGradient) {
  const auto [difference, distribution] = GetParam();
  Quadratic f;
  const Direction direction(DirectionOptions{.distribution = distribution}, f.params);
  const Estimator est(EstimatorOptions{.eps = 1e-2, .queries = 1, .difference = difference});
  const std::size_t d = f.theta.size();
  const int n = 6000;
  std::vector<double> sum(d, 0.0), squares(d, 0.0);
  std::vector<float> z(d);
  for (int s = 0; s < n; ++s) {
    const Estimate e = est.estimate([&] { return f(); }, f.params, direction, 2024, s);
    ASSERT_TRUE(e.finite);
    ASSERT_EQ(e.probes.size(), 1u);
    direction.fill(f.params.param(0), e.probes[0].draw, 0, std::int64_t(d), z.data());
    for (std::size_t i = 0; i < d; ++i) {
      const double g = e.probes[0].rho * z[i];
      sum[i] += g;
      squares[i] += g * g;
    }
  }
  for (std::size_t i = 0; i < d; ++i) {
    const double mean = sum[i] / n;
    const double sd = std::sqrt(std::max(squares[i] / n - mean * mean, 0.0));
    // 5 standard errors: a false alarm has probability ~1e-6 per coordinate.
    EXPECT_NEAR(mean, f.grad(i), 5.0 * sd / std::sqrt(double(n)) + 1e-3)
        << to_string(difference) << " " << to_string(distribution) << " coordinate " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    DifferencesAndDistributions, EstimatorMean,
    ::testing::Values(MeanCase{Difference::central, Distribution::gaussian},
                      MeanCase{Difference::central, Distribution::rademacher},
                      MeanCase{Difference::central, Distribution::sphere},
                      MeanCase{Difference::forward, Distribution::gaussian},
                      MeanCase{Difference::forward, Distribution::rademacher},
                      MeanCase{Difference::forward, Distribution::sphere}),
    [](const auto& info) {
      return std::string(to_string(info.param.difference)) + "_" + std::string(to_string(info.param.distribution));
    });

TEST(Estimator, RhoIsTheDirectionalDerivativeOfALinearFunction) {
  // f(θ) = a·θ: central and forward differences are exact, ρ_k = a·z_k (up to float rounding of θ ± εz).
  std::vector<float> theta(50, 0.25f);
  ParamSet params;
  params.add("w", DType::f32, {5, 10}, theta.data());
  std::vector<double> a(50);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(double(i));
  const Loss loss = [&] {
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * theta[i];
    return s;
  };
  const Direction direction({}, params);
  std::vector<float> z(50);
  for (Difference diff : {Difference::central, Difference::forward}) {
    const Estimator est(EstimatorOptions{.eps = 0.1, .queries = 3, .difference = diff});
    const Estimate e = est.estimate(loss, params, direction, 5, 17);
    ASSERT_EQ(e.probes.size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(e.probes[k].draw.seed, derive_seed(5, 17, std::uint32_t(k + 1)));
      direction.fill(params.param(0), e.probes[k].draw, 0, 50, z.data());
      double expected = 0.0;
      for (std::size_t i = 0; i < a.size(); ++i) expected += a[i] * z[i];
      EXPECT_NEAR(e.probes[k].rho, expected, 1e-4 * (1.0 + std::abs(expected))) << to_string(diff) << " probe " << k;
    }
    EXPECT_EQ(e.blocks, direction.active_blocks(5, 17));
    EXPECT_EQ(e.step, 17);
  }
}

TEST(Estimator, CountsEvaluationsAndReportsTheLoss) {
  for (int q : {1, 2, 5}) {
    Quadratic f;
    const Direction direction({}, f.params);
    const double f_theta = Quadratic()();
    const Estimate central =
        Estimator({.eps = 1e-3, .queries = q, .difference = Difference::central})
            .estimate([&] { return f(); }, f.params, direction, 1, 0);
    EXPECT_EQ(central.evaluations, 2 * q);
    EXPECT_EQ(f.calls, 2 * q);
    EXPECT_NEAR(central.loss, f_theta, 1e-3);  // (f₊ + f₋)/2 = f + O(ε²)
    f.calls = 0;
    const Estimate forward =
        Estimator({.eps = 1e-3, .queries = q, .difference = Difference::forward})
            .estimate([&] { return f(); }, f.params, direction, 1, 0);
    EXPECT_EQ(forward.evaluations, q + 1);
    EXPECT_EQ(f.calls, q + 1);
    EXPECT_NEAR(forward.loss, f_theta, 1e-6);  // f₀ itself
  }
}

void expect_restored(const std::vector<float>& before, const std::vector<float>& after, float eps) {
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    // θ + εz − 2εz + εz in float: a few ulps of |θ| + ε|z|.
    EXPECT_NEAR(after[i], before[i], 8 * std::numeric_limits<float>::epsilon() * (std::abs(before[i]) + eps * 6.0f))
        << "element " << i;
  }
}

TEST(Estimator, RestoresThetaAfterEveryProtocol) {
  for (Difference diff : {Difference::central, Difference::forward}) {
    for (Distribution dist : {Distribution::gaussian, Distribution::rademacher, Distribution::sphere}) {
      Quadratic f;
      const auto before = f.theta;
      const Direction direction(DirectionOptions{.distribution = dist}, f.params);
      Estimator({.eps = 1e-2, .queries = 4, .difference = diff})
          .estimate([&] { return f(); }, f.params, direction, 3, 9);
      expect_restored(before, f.theta, 1e-2f);
    }
  }
}

TEST(Estimator, RestoresThetaWhenTheLossThrows) {
  for (Difference diff : {Difference::central, Difference::forward}) {
    for (int throw_at = 1; throw_at <= (diff == Difference::central ? 4 : 3); ++throw_at) {
      Quadratic f;
      const auto before = f.theta;
      const Direction direction({}, f.params);
      int calls = 0;
      const Loss loss = [&] {
        if (++calls == throw_at) throw std::runtime_error("loss failed");
        return f();
      };
      EXPECT_THROW(Estimator({.eps = 0.5, .queries = 2, .difference = diff})
                       .estimate(loss, f.params, direction, 3, 0),
                   std::runtime_error);
      expect_restored(before, f.theta, 0.5f);
    }
  }
}

TEST(Estimator, ANonFiniteLossMarksTheEstimateAndRestoresTheta) {
  for (Difference diff : {Difference::central, Difference::forward}) {
    for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
      const int evaluations = diff == Difference::central ? 4 : 3;
      for (int bad_at = 1; bad_at <= evaluations; ++bad_at) {
        Quadratic f;
        const auto before = f.theta;
        const Direction direction({}, f.params);
        int calls = 0;
        const Loss loss = [&] { return ++calls == bad_at ? bad : f(); };
        const Estimate e = Estimator({.eps = 0.5, .queries = 2, .difference = diff})
                               .estimate(loss, f.params, direction, 3, 0);
        EXPECT_FALSE(e.finite) << to_string(diff) << " bad evaluation " << bad_at;
        EXPECT_FALSE(std::isfinite(e.loss));
        EXPECT_EQ(e.evaluations, calls);
        EXPECT_LE(e.evaluations, evaluations);
        expect_restored(before, f.theta, 0.5f);
      }
    }
  }
}

TEST(Estimator, InUpdateLeavesOnlyTheLastProbesRestoreAndFinishRestoreAppliesIt) {
  for (const Difference difference : {Difference::central, Difference::forward}) {
    for (const int queries : {1, 2, 4}) {
      Quadratic now, later;
      const Direction d_now({}, now.params), d_later({}, later.params);
      const Estimator est(EstimatorOptions{.eps = 1e-2, .queries = queries, .difference = difference});
      const Estimate a = est.estimate([&] { return now(); }, now.params, d_now, 3, 7);
      Estimate b = est.estimate([&] { return later(); }, later.params, d_later, 3, 7, Restore::in_update);
      EXPECT_FALSE(a.restore.pending());
      ASSERT_TRUE(b.restore.pending());
      EXPECT_EQ(b.restore.probe, queries - 1);
      EXPECT_EQ(b.restore.alpha, difference == Difference::central ? 1e-2f : -1e-2f);
      EXPECT_EQ(a.evaluations, b.evaluations);
      for (std::size_t k = 0; k < a.probes.size(); ++k) EXPECT_EQ(a.probes[k].rho, b.probes[k].rho);
      // θ is the last probe's θ − α·z until the restore …
      std::vector<float> z(now.theta.size());
      d_later.fill(later.params.param(0), b.probes.back().draw, 0, std::int64_t(z.size()), z.data());
      for (std::size_t i = 0; i < z.size(); ++i) EXPECT_NEAR(later.theta[i], now.theta[i] - b.restore.alpha * z[i], 1e-6f);
      // … which finish_restore applies with the bits of the eager restore.
      finish_restore(later.params, d_later, b);
      EXPECT_FALSE(b.restore.pending());
      EXPECT_EQ(later.theta, now.theta);
      finish_restore(later.params, d_later, b);  // nothing pending: nothing moves
      EXPECT_EQ(later.theta, now.theta);
    }
  }
}

TEST(Estimator, InUpdateRestoresEverythingWhenTheEstimateIsNotFinite) {
  for (const Difference difference : {Difference::central, Difference::forward}) {
    Quadratic f;
    const std::vector<float> before = f.theta;
    const Direction direction({}, f.params);
    const Estimator est(EstimatorOptions{.eps = 1e-2, .queries = 1, .difference = difference});
    int calls = 0;
    const Estimate e = est.estimate(
        [&] { return ++calls == 2 ? std::numeric_limits<double>::quiet_NaN() : f(); }, f.params, direction, 1, 0,
        Restore::in_update);
    EXPECT_FALSE(e.finite);
    EXPECT_FALSE(e.restore.pending());
    for (std::size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(f.theta[i], before[i], 1e-6f);
  }
}

TEST(Estimator, BlockCoordinateProbesMoveOnlyTheActiveBlocks) {
  std::vector<float> a(8, 1.0f), b(8, 2.0f);
  ParamSet params;
  params.add("a", DType::f32, {8}, a.data());
  params.add("b", DType::f32, {8}, b.data());
  const Direction direction(DirectionOptions{.order = BlockOrder::cyclic}, params);
  bool b_moved = false;
  const Loss loss = [&] {
    for (float v : b) b_moved = b_moved || v != 2.0f;
    double s = 0.0;
    for (float v : a) s += v * v;
    return s;
  };
  const Estimate e = Estimator({}).estimate(loss, params, direction, 0, 0);  // cyclic step 0: block "a"
  EXPECT_EQ(e.blocks, std::vector<std::uint32_t>{0});
  EXPECT_FALSE(b_moved);
  EXPECT_NE(e.probes[0].rho, 0.0);
}

TEST(EstimatorOptions, InvalidValuesAreErrorsNamingTheField) {
  const auto msg = [](EstimatorOptions o) {
    try {
      Estimator e(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg({.eps = 0.0}).find("eps = 0"), std::string::npos);
  EXPECT_NE(msg({.eps = -1e-3}).find("eps = -0.001"), std::string::npos);
  EXPECT_NE(msg({.eps = std::numeric_limits<double>::infinity()}).find("eps"), std::string::npos);
  EXPECT_NE(msg({.eps = 1e-60}).find("eps"), std::string::npos);
  EXPECT_NE(msg({.queries = 0}).find("queries = 0"), std::string::npos);
  EXPECT_EQ(msg({}), "");
  EXPECT_EQ(difference_from_string("forward"), Difference::forward);
  EXPECT_EQ(difference_from_string(to_string(Difference::central)), Difference::central);
  EXPECT_THROW(difference_from_string("backward"), Error);
}

}  // namespace
}  // namespace zo
