// Reference values: closed forms, and numpy (float64) evaluations of the textbook definitions:
//   levy(x)   = sin²(πw₁) + Σ_{i<d}(w_i−1)²(1+10 sin²(πw_i+1)) + (w_d−1)²(1+sin²(2πw_d)), w = 1+(x−1)/4
//   ackley(x) = −20 exp(−0.2 √(mean x²)) − exp(mean cos 2πx) + 20 + e
// computed with /usr/bin/python3 and pasted here.
#include "zo/tasks/synthetic.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace zo {
namespace {

tasks::Synthetic make(tasks::SyntheticFunction f, std::int64_t dim, double condition = 1e3) {
  return tasks::Synthetic(tasks::SyntheticOptions{.function = f, .dim = dim, .condition = condition});
}

TEST(Synthetic, EveryFunctionIsZeroAtItsArgmin) {
  for (auto f : {tasks::SyntheticFunction::quadratic, tasks::SyntheticFunction::rosenbrock, tasks::SyntheticFunction::levy,
                 tasks::SyntheticFunction::ackley}) {
    for (std::int64_t d : {2, 7, 100}) {
      tasks::Synthetic s = make(f, d);
      const auto x = s.argmin();
      ASSERT_EQ(std::int64_t(x.size()), d);
      EXPECT_NEAR(s.value(x), s.minimum(), 1e-12) << to_string(f) << " d=" << d;
    }
  }
}

TEST(Synthetic, ArgminIsOneForRosenbrockAndLevyAndZeroOtherwise) {
  EXPECT_EQ(make(tasks::SyntheticFunction::rosenbrock, 3).argmin(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::levy, 3).argmin(), std::vector<float>(3, 1.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::quadratic, 3).argmin(), std::vector<float>(3, 0.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::ackley, 3).argmin(), std::vector<float>(3, 0.0f));
}

TEST(Synthetic, QuadraticHasLogSpacedCurvatures) {
  // c = (1, 10, 100): ½ (1 + 10 + 100).
  const std::vector<float> ones{1, 1, 1};
  EXPECT_NEAR(make(tasks::SyntheticFunction::quadratic, 3, 100.0).value(ones), 55.5, 1e-12);
  // c = 1000^(i/3), i = 0..3, at (0.5, −2, 3, 1.5): ½ Σ c_i x_i² = 1595.125.
  const std::vector<float> x{0.5f, -2.0f, 3.0f, 1.5f};
  EXPECT_NEAR(make(tasks::SyntheticFunction::quadratic, 4, 1000.0).value(x), 1595.125, 1e-9);
  // d = 1: the single curvature is 1.
  EXPECT_NEAR(make(tasks::SyntheticFunction::quadratic, 1, 1000.0).value(std::vector<float>{2.0f}), 2.0, 1e-15);
}

TEST(Synthetic, QuadraticAtOnesSumsAGeometricSeries) {
  const std::int64_t d = 10000;
  const double condition = 1e3;
  const double r = std::pow(condition, 1.0 / double(d - 1));
  const double expected = 0.5 * (std::pow(r, double(d)) - 1.0) / (r - 1.0);
  tasks::Synthetic s = make(tasks::SyntheticFunction::quadratic, d, condition);
  EXPECT_NEAR(s.value(s.x0()), expected, 1e-9 * expected);
}

TEST(Synthetic, RosenbrockAtKnownPoints) {
  EXPECT_NEAR(make(tasks::SyntheticFunction::rosenbrock, 2).value(std::vector<float>{-1.2f, 1.0f}), 24.2, 1e-4);  // -1.2f is not -1.2
  EXPECT_NEAR(make(tasks::SyntheticFunction::rosenbrock, 4).value(std::vector<float>{0.5f, -0.25f, 2.0f, 1.5f}),
              1028.203125, 1e-9);
  EXPECT_DOUBLE_EQ(make(tasks::SyntheticFunction::rosenbrock, 5).value(std::vector<float>(5, 0.0f)), 4.0);
}

TEST(Synthetic, LevyAtKnownPoints) {
  EXPECT_NEAR(make(tasks::SyntheticFunction::levy, 2).value(std::vector<float>{0.0f, 0.0f}), 0.7158445541169746, 1e-12);
  EXPECT_NEAR(make(tasks::SyntheticFunction::levy, 3).value(std::vector<float>{-3.5f, 2.25f, 0.5f}), 6.475326268574514,
              1e-12);
  EXPECT_NEAR(make(tasks::SyntheticFunction::levy, 4).value(std::vector<float>(4, 2.0f)), 2.6024663376490764, 1e-12);
}

TEST(Synthetic, AckleyAtKnownPoints) {
  EXPECT_NEAR(make(tasks::SyntheticFunction::ackley, 2).value(std::vector<float>{1.0f, 1.0f}), 3.6253849384403627, 1e-12);
  EXPECT_NEAR(make(tasks::SyntheticFunction::ackley, 3).value(std::vector<float>{0.5f, -1.25f, 2.0f}), 6.5782241842650535,
              1e-12);
  // 0.4f is not 0.4: allow float rounding of the input.
  EXPECT_NEAR(make(tasks::SyntheticFunction::ackley, 5).value(std::vector<float>(5, 0.4f)), 3.8106593215183087, 1e-6);
}

TEST(Synthetic, StartPointsAreTheDocumentedOnes) {
  EXPECT_EQ(make(tasks::SyntheticFunction::quadratic, 4).x0(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::rosenbrock, 4).x0(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::levy, 4).x0(), std::vector<float>(4, 2.0f));
  EXPECT_EQ(make(tasks::SyntheticFunction::ackley, 4).x0(), std::vector<float>(4, 0.4f));
  // Every start point is away from the minimum.
  for (auto f : {tasks::SyntheticFunction::quadratic, tasks::SyntheticFunction::rosenbrock, tasks::SyntheticFunction::levy,
                 tasks::SyntheticFunction::ackley}) {
    tasks::Synthetic s = make(f, 50);
    EXPECT_GT(s.value(s.x0()), 1.0) << to_string(f);
  }
}

TEST(Synthetic, CallsAreCountedAndValueIsNotCounted) {
  tasks::Synthetic s = make(tasks::SyntheticFunction::quadratic, 3);
  const std::vector<float> x(3, 1.0f);
  EXPECT_EQ(s.calls(), 0);
  s.value(x);
  EXPECT_EQ(s.calls(), 0);
  EXPECT_DOUBLE_EQ(s(x), s.value(x));  // no noise: the call is the value
  s(x);
  EXPECT_EQ(s.calls(), 2);
}

TEST(Synthetic, NoiseIsReproducibleAndHasTheRequestedSpread) {
  const tasks::SyntheticOptions options{.function = tasks::SyntheticFunction::ackley, .dim = 4, .noise = 0.5, .seed = 42};
  tasks::Synthetic a(options), b(options);
  tasks::Synthetic c(tasks::SyntheticOptions{.function = tasks::SyntheticFunction::ackley, .dim = 4, .noise = 0.5, .seed = 43});
  const std::vector<float> x(4, 0.3f);
  const double clean = a.value(x);
  const int n = 20000;
  double sum = 0.0, squares = 0.0;
  int differs = 0;
  for (int i = 0; i < n; ++i) {
    const double fa = a(x);
    ASSERT_EQ(fa, b(x)) << "call " << i;  // same seed, same call: same noise
    if (c(x) != fa) ++differs;
    const double e = fa - clean;
    sum += e;
    squares += e * e;
  }
  const double mean = sum / n, sd = std::sqrt(squares / n - mean * mean);
  EXPECT_LT(std::abs(mean), 5.0 * 0.5 / std::sqrt(double(n)));  // 5 standard errors
  EXPECT_NEAR(sd, 0.5, 0.02);
  EXPECT_GT(differs, n - 10);
  EXPECT_DOUBLE_EQ(a.value(x), clean);  // value() stays noiseless
  EXPECT_EQ(a.calls(), n);
}

TEST(Synthetic, WrongSizeIsAnErrorNamingBothSizes) {
  tasks::Synthetic s = make(tasks::SyntheticFunction::levy, 5);
  try {
    s(std::vector<float>(4, 0.0f));
    FAIL() << "expected zo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 elements"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dim = 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.calls(), 0);
}

TEST(Synthetic, BadOptionsAreErrorsNamingTheField) {
  const auto message = [](tasks::SyntheticOptions o) {
    try {
      tasks::Synthetic s(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({.dim = 0}).find("dim = 0"), std::string::npos);
  EXPECT_NE(message({.function = tasks::SyntheticFunction::rosenbrock, .dim = 1}).find("dim = 1"), std::string::npos);
  EXPECT_NE(message({.dim = 3, .condition = 0.5}).find("condition = 0.5"), std::string::npos);
  EXPECT_NE(message({.dim = 3, .noise = -1.0}).find("noise = -1"), std::string::npos);
  EXPECT_NE(message({.dim = 3, .noise = std::nan("")}).find("noise"), std::string::npos);
  EXPECT_EQ(message({.function = tasks::SyntheticFunction::rosenbrock, .dim = 2}), "");
}

TEST(Synthetic, NamesRoundTripAndUnknownNamesListTheValidOnes) {
  for (auto f : {tasks::SyntheticFunction::quadratic, tasks::SyntheticFunction::rosenbrock, tasks::SyntheticFunction::levy,
                 tasks::SyntheticFunction::ackley}) {
    EXPECT_EQ(tasks::synthetic_function_from_string(to_string(f)), f);
  }
  try {
    tasks::synthetic_function_from_string("sphere");
    FAIL() << "expected zo::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sphere"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("rosenbrock"), std::string::npos);
  }
}

}  // namespace
}  // namespace zo
