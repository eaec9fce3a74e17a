// The attack: batched estimation against the sequential Estimator, the objective's closed form, query
// accounting and success on a toy victim, option and method validation, image selection.
#include "zo/tasks/attack.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"
#include "zo/tasks/batched_estimate.hpp"
#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

using namespace zo::tasks;

using zo::test::expect_error;

namespace {

// f(θ) = Σ_i (i + 1) θ_i² / 10 + θ_0, over the concatenation of the params.
double quadratic(std::span<const float> t) {
  double s = t.empty() ? 0.0 : double(t[0]);
  for (std::size_t i = 0; i < t.size(); ++i) s += double(i + 1) * double(t[i]) * double(t[i]) / 10.0;
  return s;
}

struct TwoParams {
  std::vector<float> a = std::vector<float>(12), b = std::vector<float>(20);
  zo::ParamSet params;
  TwoParams() {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.1f * float(i) - 0.4f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.05f * float(i) + 0.2f;
    params.add("a", zo::DType::f32, {3, 4}, a.data());
    params.add("b", zo::DType::f32, {4, 5}, b.data());
  }
  std::vector<float> flat() const {
    std::vector<float> t(a);
    t.insert(t.end(), b.begin(), b.end());
    return t;
  }
};

void expect_batched_matches_estimator(const zo::DirectionOptions& dopt, zo::Difference diff) {
  TwoParams p;
  const zo::Direction direction(dopt, p.params);
  const zo::EstimatorOptions eopt{.eps = 1e-2, .queries = 4, .difference = diff};
  const auto theta0 = p.flat();
  for (std::int64_t step = 0; step < 3; ++step) {
    int calls = 0;
    std::int64_t rows_seen = 0;
    const BatchLoss batch = [&](std::span<const float> points, std::int64_t rows, std::span<double> losses) {
      ++calls;
      rows_seen = rows;
      ASSERT_EQ(std::int64_t(points.size()), rows * 32);
      for (std::int64_t r = 0; r < rows; ++r) losses[std::size_t(r)] = quadratic(points.subspan(std::size_t(r * 32), 32));
    };
    const auto got = batched_estimate(batch, p.params, direction, eopt, 99, step);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(rows_seen, batch_rows(eopt));
    EXPECT_EQ(got.evaluations, batch_rows(eopt));
    EXPECT_EQ(p.flat(), theta0) << "batched_estimate must not move θ";
    EXPECT_NEAR(got.loss, quadratic(theta0), 1e-12);

    const zo::Estimator estimator(eopt);
    const auto want = estimator.estimate([&] { return quadratic(p.flat()); }, p.params, direction, 99, step);
    // The in-place protocol restores θ up to float rounding; put it back exactly for the next step.
    std::copy(theta0.begin(), theta0.begin() + 12, p.a.begin());
    std::copy(theta0.begin() + 12, theta0.end(), p.b.begin());
    ASSERT_EQ(got.blocks, want.blocks);
    ASSERT_EQ(got.probes.size(), want.probes.size());
    for (std::size_t k = 0; k < want.probes.size(); ++k) {
      EXPECT_EQ(got.probes[k].draw.seed, want.probes[k].draw.seed);
      EXPECT_FLOAT_EQ(got.probes[k].draw.scale, want.probes[k].draw.scale);
      EXPECT_NEAR(got.probes[k].rho, want.probes[k].rho, 1e-4 * (1.0 + std::abs(want.probes[k].rho)))
          << "step " << step << " probe " << k;
    }
  }
}

// A toy victim on 4×4 images, 3 classes: logits = (s, 0, −s) with s = 4·(mean of the top half − 0.3),
// so bright-topped images are class 0, and darkening the top half moves them to class 1.
ScoreFn toy_victim(std::int64_t* images_scored = nullptr) {
  return [images_scored](std::span<const float> images, std::int64_t rows, std::span<float> lp) {
    ASSERT_EQ(std::int64_t(images.size()), rows * 16);
    for (std::int64_t r = 0; r < rows; ++r) {
      double top = 0.0;
      for (int i = 0; i < 8; ++i) top += images[std::size_t(r * 16 + i)];
      const float s = float(4.0 * (top / 8.0 - 0.3));
      float v[3] = {s, 0.0f, -s};
      const float m = std::max({v[0], v[1], v[2]});
      const float lse = m + std::log(std::exp(v[0] - m) + std::exp(v[1] - m) + std::exp(v[2] - m));
      for (int j = 0; j < 3; ++j) lp[std::size_t(r * 3 + j)] = v[j] - lse;
    }
    if (images_scored) *images_scored += rows;
  };
}

std::vector<float> toy_image() {
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[std::size_t(i)] = i < 8 ? 0.6f + 0.02f * float(i) : 0.2f;
  return x;
}

}  // namespace

TEST(BatchedEstimate, MatchesSequentialEstimatorDenseForward) {
  expect_batched_matches_estimator({}, zo::Difference::forward);
}
TEST(BatchedEstimate, MatchesSequentialEstimatorDenseCentral) {
  expect_batched_matches_estimator({}, zo::Difference::central);
}
TEST(BatchedEstimate, MatchesSequentialEstimatorBlockCoordinate) {
  zo::DirectionOptions d;
  d.order = zo::BlockOrder::permutation;
  expect_batched_matches_estimator(d, zo::Difference::forward);
}
TEST(BatchedEstimate, MatchesSequentialEstimatorSparse) {
  zo::DirectionOptions d;
  d.kind = zo::DirectionKind::sparse;
  d.keep = 0.5;
  expect_batched_matches_estimator(d, zo::Difference::central);
}

TEST(BatchedEstimate, NonFiniteLossMarksTheEstimate) {
  TwoParams p;
  const zo::Direction direction({}, p.params);
  const BatchLoss batch = [](std::span<const float>, std::int64_t rows, std::span<double> losses) {
    for (std::int64_t r = 0; r < rows; ++r) losses[std::size_t(r)] = r == 2 ? std::nan("") : 1.0;
  };
  const auto e = batched_estimate(batch, p.params, direction, {.eps = 1e-2, .queries = 3}, 1, 0);
  EXPECT_FALSE(e.finite);
}

TEST(AttackLoss, IsTheCarliniWagnerMarginPlusDistortion) {
  const std::vector<float> lp = {std::log(0.7f), std::log(0.2f), std::log(0.1f)};
  // Class 0 is the true class: margin log 0.7 − log 0.2.
  EXPECT_NEAR(attack_loss(lp, 0, 2.0, 0.0, 0.5), 2.0 * std::log(3.5) + 0.5, 1e-6);
  // Class 2 is the true class: margin log 0.1 − log 0.7 < 0, floored at −κ.
  EXPECT_NEAR(attack_loss(lp, 2, 1.0, 0.0, 0.25), 0.25, 1e-12);
  EXPECT_NEAR(attack_loss(lp, 2, 1.0, 1.0, 0.0), -1.0, 1e-12);
  EXPECT_NEAR(attack_loss(lp, 2, 1.0, 5.0, 0.0), std::log(1.0 / 7.0), 1e-6);
}

TEST(AttackMethod, ParsesOptimizerStructureAndLearningRate) {
  const auto a = attack_method_from_string("r-adazo-bcd@0.005");
  EXPECT_EQ(a.optimizer, zo::OptimizerKind::r_adazo);
  EXPECT_EQ(a.structure, Structure::bcd);
  ASSERT_TRUE(a.lr.has_value());
  EXPECT_DOUBLE_EQ(*a.lr, 0.005);
  EXPECT_EQ(a.label(), "r-adazo-bcd@0.005");
  const auto b = attack_method_from_string("zo-sgd-sign");
  EXPECT_EQ(b.optimizer, zo::OptimizerKind::zo_sgd_sign);
  EXPECT_EQ(b.structure, Structure::dense);
  EXPECT_FALSE(b.lr.has_value());
  EXPECT_EQ(attack_method_from_string("zo-adamm-sparse").structure, Structure::sparse);
  expect_error([] { attack_method_from_string("adam"); }, {"'adam'", "r-adazo"});
  expect_error([] { attack_method_from_string("r-adazo@-1"); }, {"r-adazo@-1", "positive"});
  expect_error([] { attack_method_from_string("r-adazo@"); }, {"positive"});
}

TEST(AttackOptions, ValidateNamesTheFieldAndValue) {
  AttackOptions o;
  o.queries = 0;
  expect_error([&] { o.validate(); }, {"queries = 0", ">= 1"});
  o = {};
  o.c = 0;
  expect_error([&] { o.validate(); }, {"c = 0"});
  o = {};
  o.keep = 1.5;
  expect_error([&] { o.validate(); }, {"keep = 1.5"});
  o = {};
  o.estimator.queries = 0;
  expect_error([&] { o.validate(); }, {"queries = 0"});
}

TEST(Attack, FoolsAToyVictimWithinTheBudgetAndCountsEveryImage) {
  const auto x0 = toy_image();
  for (const char* name : {"zo-sgd@0.2", "zo-sign-sgd@0.05", "zo-adamm@0.1", "r-adazo@0.05", "r-adazo-bcd@0.05",
                           "r-adazo-sparse@0.05"}) {
    AttackOptions o;
    o.c = 10.0;  // with c = 1 the distortion term wins before the margin reaches 0 on this victim
    o.queries = 601;
    o.patch = 2;
    o.keep = 0.5;
    o.estimator.queries = 4;
    std::int64_t scored = 0;
    const auto r = attack_image(toy_victim(&scored), x0, 0, 4, 4, 3, attack_method_from_string(name), o, 7);
    SCOPED_TRACE(name);
    EXPECT_EQ(scored, r.queries_used);
    EXPECT_LE(r.queries_used, o.queries);
    EXPECT_EQ(r.queries_used, r.steps * 5 + 1) << "q + 1 images a step, one for the final point";
    ASSERT_TRUE(r.success);
    EXPECT_GE(r.first_success_query, 1);
    EXPECT_LE(r.first_success_query, r.queries_used);
    EXPECT_EQ((r.first_success_query - 1) % 5, 0) << "the current point is the first row of a step's batch";
    // The kept adversarial image is valid and really fools the victim, and its ‖δ‖₂ is best_l2.
    ASSERT_EQ(r.adversarial.size(), 16u);
    double l2 = 0.0;
    for (std::size_t i = 0; i < 16; ++i) {
      EXPECT_GE(r.adversarial[i], 0.0f);
      EXPECT_LE(r.adversarial[i], 1.0f);
      l2 += double(r.adversarial[i] - x0[i]) * (r.adversarial[i] - x0[i]);
    }
    EXPECT_NEAR(std::sqrt(l2), r.best_l2, 1e-5);
    EXPECT_LE(r.best_l2, r.l2_at_first_success + 1e-12);
    std::vector<float> lp(3);
    toy_victim()(r.adversarial, 1, lp);
    EXPECT_NE(std::max_element(lp.begin(), lp.end()) - lp.begin(), 0);
    EXPECT_EQ(r.curve.size(), std::size_t(r.steps));
    EXPECT_LT(r.curve.back(), r.curve.front());
  }
}

TEST(Attack, ClipBoxKeepsPixelsInRange) {
  AttackOptions o;
  o.queries = 300;
  o.c = 10.0;
  o.box = BoxMethod::clip;
  o.estimator.queries = 4;
  const auto r = attack_image(toy_victim(), toy_image(), 0, 4, 4, 3, attack_method_from_string("zo-sign-sgd@0.05"), o, 3);
  EXPECT_TRUE(r.success);
  for (float v : r.adversarial) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
}

TEST(Attack, SameSeedSameResultAndBudgetOfOneQuery) {
  AttackOptions o;
  o.c = 10.0;
  o.queries = 200;
  o.estimator.queries = 3;
  const auto m = attack_method_from_string("r-adazo@0.05");
  const auto a = attack_image(toy_victim(), toy_image(), 0, 4, 4, 3, m, o, 11);
  const auto b = attack_image(toy_victim(), toy_image(), 0, 4, 4, 3, m, o, 11);
  EXPECT_EQ(a.curve, b.curve);
  EXPECT_EQ(a.adversarial, b.adversarial);
  o.queries = 1;
  std::int64_t scored = 0;
  const auto one = attack_image(toy_victim(&scored), toy_image(), 0, 4, 4, 3, m, o, 11);
  EXPECT_EQ(one.steps, 0);
  EXPECT_EQ(scored, 1);
  EXPECT_FALSE(one.success);
  EXPECT_GT(one.final_loss, 0.0);
}

TEST(Attack, BadShapesAndPatchesAreErrors) {
  AttackOptions o;
  o.patch = 3;
  expect_error([&] { attack_image(toy_victim(), toy_image(), 0, 4, 4, 3, attack_method_from_string("r-adazo-bcd"), o, 1); },
               {"patch = 3", "divide"});
  o = {};
  expect_error([&] { attack_image(toy_victim(), toy_image(), 0, 5, 4, 3, attack_method_from_string("r-adazo"), o, 1); },
               {"16 pixels"});
  expect_error([&] { attack_image(toy_victim(), toy_image(), 3, 4, 4, 3, attack_method_from_string("r-adazo"), o, 1); },
               {"label 3"});
}

TEST(Attack, SelectImagesChecksCountsAndPicksCorrectlyClassifiedOnes) {
  // A 4-pixel, 2-class victim: class = whether pixel 0 > pixel 1.
  Mlp m({4, 2});
  auto w = m.weight(1);
  w[0] = 1;
  w[1] = -1;
  w[4] = -1;
  w[5] = 1;
  ImageDataset d;
  d.rows = 2;
  d.cols = 2;
  d.count = 6;
  const std::uint8_t px[6][2] = {{200, 10}, {10, 200}, {200, 10}, {10, 200}, {200, 10}, {10, 200}};
  const std::uint8_t labels[6] = {0, 0, 0, 1, 1, 1};  // correct: 0, 2, 3, 5
  for (int i = 0; i < 6; ++i) {
    d.pixels.insert(d.pixels.end(), {px[i][0], px[i][1], 0, 0});
    d.labels.push_back(labels[i]);
  }
  EXPECT_EQ(select_images(m, d, 3), (std::vector<std::int64_t>{0, 2, 3}));
  EXPECT_EQ(select_images(m, d, 2, 3), (std::vector<std::int64_t>{3, 5}));
  expect_error([&] { select_images(m, d, 0); }, {"images = 0", ">= 1"});
  expect_error([&] { select_images(m, d, 7); }, {"images = 7", "only 6"});
  expect_error([&] { select_images(m, d, 5); }, {"images = 5", "only 4"});
  expect_error([&] { select_images(m, d, 1, 6); }, {"first image = 6"});
  Mlp wide({9, 2});
  expect_error([&] { check_victim_fits(wide, "v.safetensors", d, "data/"); },
               {"v.safetensors", "9 inputs", "data/", "4 pixels"});
  Mlp narrow({4, 1});
  expect_error([&] { check_victim_fits(narrow, "v.safetensors", d, "data/"); }, {"v.safetensors", "1 classes", "label 1"});
}
