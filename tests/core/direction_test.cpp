// Directions: names, option validation, block selectors, draws, and fill() as the reference z.
#include "zo/core/direction.hpp"
#include "zo/util/error.hpp"
#include "zo/core/random.hpp"
#include "../test_util.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using zo::test::expect_error;

namespace {

using zo::BlockOrder;
using zo::DirectionKind;
using zo::DirectionOptions;
using zo::Distribution;
using zo::DType;

using Shapes = std::vector<std::vector<std::int64_t>>;

// A ParamSet of `count` f32 params p0, p1, … of the given sizes, one block each.
struct Fixture {
  std::vector<std::vector<float>> storage;
  zo::ParamSet set;
  explicit Fixture(const std::vector<std::vector<std::int64_t>>& shapes) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      std::int64_t numel = 1;
      for (auto d : shapes[i]) numel *= d;
      storage.emplace_back(std::size_t(numel), 0.0f);
      set.add(fmt::format("p{}", i), DType::f32, shapes[i], storage.back().data());
    }
  }
};

TEST(DirectionNames, RoundTripAndUnknownNamesListTheValidOnes) {
  for (auto k : {DirectionKind::dense, DirectionKind::sparse, DirectionKind::low_rank}) {
    EXPECT_EQ(zo::direction_kind_from_string(zo::to_string(k)), k);
  }
  EXPECT_EQ(zo::to_string(DirectionKind::low_rank), "low-rank");
  for (auto d : {Distribution::gaussian, Distribution::rademacher, Distribution::sphere}) {
    EXPECT_EQ(zo::distribution_from_string(zo::to_string(d)), d);
  }
  for (auto o : {BlockOrder::all, BlockOrder::cyclic, BlockOrder::permutation, BlockOrder::uniform,
                 BlockOrder::weighted}) {
    EXPECT_EQ(zo::block_order_from_string(zo::to_string(o)), o);
  }
  expect_error([] { zo::direction_kind_from_string("lowrank"); }, {"'lowrank'", "low-rank", "dense"});
  expect_error([] { zo::distribution_from_string("normal"); }, {"'normal'", "gaussian"});
  expect_error([] { zo::block_order_from_string("random"); }, {"'random'", "permutation"});
}

TEST(DirectionOptions, ValidateNamesFieldValueAndRule) {
  auto with = [](auto edit) {
    DirectionOptions o;
    edit(o);
    return o;
  };
  expect_error([&] { with([](auto& o) { o.kind = DirectionKind::sparse; o.keep = 0.0; }).validate(3); },
               {"'keep'", "0", "(0, 1]"});
  for (const int g : {0, -4, 3, 24, 128}) {
    expect_error([&] { with([g](auto& o) { o.kind = DirectionKind::sparse; o.granule = g; }).validate(3); },
                 {"'granule'", fmt::format("= {}", g), "power of 2 in [1, 64]"});
  }
  expect_error([&] { with([](auto& o) { o.kind = DirectionKind::sparse; o.keep = 1.5; }).validate(3); },
               {"'keep'", "1.5"});
  expect_error([&] { with([](auto& o) { o.kind = DirectionKind::sparse; o.keep = std::nan(""); }).validate(3); },
               {"'keep'", "nan"});
  expect_error([&] { with([](auto& o) { o.kind = DirectionKind::low_rank; o.rank = 0; }).validate(3); },
               {"'rank'", "0", ">= 1"});
  expect_error([&] { with([](auto& o) { o.kind = DirectionKind::sparse; o.distribution = Distribution::sphere; }).validate(3); },
               {"'distribution'", "sphere", "dense"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::cyclic; o.blocks_per_step = 0; }).validate(3); },
               {"'blocks_per_step'", "0", "[1, 3]"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::uniform; o.blocks_per_step = 4; }).validate(3); },
               {"'blocks_per_step'", "4"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::weighted; o.block_weights = {1, 2}; }).validate(3); },
               {"'block_weights'", "2 values", "3"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::weighted; o.block_weights = {1, -2, 1}; }).validate(3); },
               {"'block_weights[1]'", "-2", ">= 0"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::weighted; o.block_weights = {1, INFINITY, 1}; }).validate(3); },
               {"'block_weights[1]'", "inf"});
  expect_error([&] { with([](auto& o) { o.order = BlockOrder::weighted; o.block_weights = {0, 0, 0}; }).validate(3); },
               {"'block_weights'", "0 positive"});
  expect_error([&] {
    with([](auto& o) { o.order = BlockOrder::weighted; o.blocks_per_step = 2; o.block_weights = {0, 1, 0}; }).validate(3);
  }, {"1 positive", "blocks_per_step = 2"});
  // Valid combinations do not throw.
  EXPECT_NO_THROW(with([](auto& o) { o.kind = DirectionKind::sparse; o.keep = 1.0; }).validate(3));
  EXPECT_NO_THROW(with([](auto& o) { o.order = BlockOrder::weighted; o.blocks_per_step = 3; }).validate(3));
  EXPECT_NO_THROW(with([](auto& o) { o.distribution = Distribution::sphere; }).validate(0));
}

TEST(Direction, ConstructorValidatesAgainstTheParamSet) {
  Fixture f({{4}, {4}});
  DirectionOptions o;
  o.order = BlockOrder::cyclic;
  o.blocks_per_step = 3;
  expect_error([&] { zo::Direction(o, f.set); }, {"'blocks_per_step'", "[1, 2]"});
}

std::vector<std::uint32_t> active(const zo::Direction& d, std::uint64_t seed, std::int64_t step) {
  return d.active_blocks(seed, step);
}

TEST(ActiveBlocks, AllMovesEveryBlock) {
  Fixture f({{1}, {2}, {3}});
  const zo::Direction d({}, f.set);
  EXPECT_EQ(active(d, 1, 0), (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(active(d, 9, 1234), (std::vector<std::uint32_t>{0, 1, 2}));
}

TEST(ActiveBlocks, CyclicStepsThroughTheBlocksInOrder) {
  Fixture f({{1}, {1}, {1}, {1}, {1}});
  DirectionOptions o;
  o.order = BlockOrder::cyclic;
  o.blocks_per_step = 2;
  const zo::Direction d(o, f.set);
  // Step t moves (2t, 2t + 1) mod 5, sorted.
  EXPECT_EQ(active(d, 7, 0), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(active(d, 7, 1), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(active(d, 7, 2), (std::vector<std::uint32_t>{0, 4}));
  EXPECT_EQ(active(d, 7, 3), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(active(d, 8, 5), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(active(d, 8, 1000000000007), (std::vector<std::uint32_t>{0, 4}));  // 2·t mod 5 = 4
  expect_error([&] { d.active_blocks(7, -1); }, {"step = -1"});
}

TEST(ActiveBlocks, PermutationCoversEveryBlockOncePerEpoch) {
  Fixture f({{1}, {1}, {1}, {1}, {1}, {1}, {1}});
  DirectionOptions o;
  o.order = BlockOrder::permutation;
  o.blocks_per_step = 2;
  const zo::Direction d(o, f.set);
  std::set<std::vector<std::uint32_t>> first_steps;
  for (std::int64_t epoch = 0; epoch < 50; ++epoch) {
    std::vector<int> seen(7, 0);
    for (std::int64_t s = 0; s < 4; ++s) {  // ceil(7 / 2) steps an epoch
      const auto blocks = active(d, 11, epoch * 4 + s);
      EXPECT_EQ(blocks.size(), s < 3 ? 2u : 1u);
      EXPECT_TRUE(std::is_sorted(blocks.begin(), blocks.end()));
      for (auto b : blocks) ++seen[b];
      if (s == 0) first_steps.insert(blocks);
    }
    EXPECT_EQ(seen, std::vector<int>(7, 1)) << "epoch " << epoch;
  }
  EXPECT_GT(first_steps.size(), 5u) << "epochs should reshuffle";
}

TEST(ActiveBlocks, UniformPicksDistinctBlocksWithEqualFrequency) {
  Fixture f({{1}, {1}, {1}, {1}, {1}, {1}});
  DirectionOptions o;
  o.order = BlockOrder::uniform;
  o.blocks_per_step = 2;
  const zo::Direction d(o, f.set);
  const int steps = 12000;
  std::vector<int> count(6, 0);
  for (int t = 0; t < steps; ++t) {
    const auto blocks = active(d, 3, t);
    ASSERT_EQ(blocks.size(), 2u);
    ASSERT_LT(blocks[0], blocks[1]);
    for (auto b : blocks) ++count[b];
  }
  // Each block is in the pair with probability 1/3; binomial sd = sqrt(n p (1 - p)).
  const double p = 1.0 / 3.0, sd = std::sqrt(steps * p * (1 - p));
  for (int b = 0; b < 6; ++b) EXPECT_NEAR(count[b], steps * p, 5 * sd) << "block " << b;
}

TEST(ActiveBlocks, WeightedSingleDrawFollowsTheWeights) {
  Fixture f({{1}, {1}, {1}, {1}});
  DirectionOptions o;
  o.order = BlockOrder::weighted;
  o.block_weights = {1, 2, 0, 5};
  const zo::Direction d(o, f.set);
  const int steps = 16000;
  std::vector<int> count(4, 0);
  for (int t = 0; t < steps; ++t) ++count[active(d, 5, t).at(0)];
  EXPECT_EQ(count[2], 0);
  for (int b : {0, 1, 3}) {
    const double p = o.block_weights[std::size_t(b)] / 8.0;
    EXPECT_NEAR(count[std::size_t(b)], steps * p, 5 * std::sqrt(steps * p * (1 - p))) << "block " << b;
  }
}

TEST(ActiveBlocks, WeightedDefaultsToNumelAndDrawsDistinctBlocks) {
  Fixture f({{10}, {30}, {60}});
  DirectionOptions o;
  o.order = BlockOrder::weighted;
  o.blocks_per_step = 2;
  const zo::Direction d(o, f.set);
  const int steps = 16000;
  std::vector<int> count(3, 0);
  for (int t = 0; t < steps; ++t) {
    const auto blocks = active(d, 6, t);
    ASSERT_EQ(blocks.size(), 2u);
    ASSERT_NE(blocks[0], blocks[1]);
    for (auto b : blocks) ++count[b];
  }
  // Successive sampling: P(i in the pair) = p_i + Σ_{j≠i} p_j · w_i / (W − w_j).
  const std::vector<double> w = {10, 30, 60};
  for (int i = 0; i < 3; ++i) {
    double p = w[i] / 100.0;
    for (int j = 0; j < 3; ++j) {
      if (j != i) p += w[j] / 100.0 * w[i] / (100.0 - w[j]);
    }
    EXPECT_NEAR(count[i], steps * p, 5 * std::sqrt(steps * p * (1 - p))) << "block " << i;
  }
}

TEST(ActiveBlocks, AreAPureFunctionOfRunSeedAndStep) {
  Fixture f({{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}});
  for (auto order : {BlockOrder::permutation, BlockOrder::uniform, BlockOrder::weighted}) {
    DirectionOptions o;
    o.order = order;
    o.blocks_per_step = 3;
    const zo::Direction d1(o, f.set), d2(o, f.set);
    int differ_by_seed = 0, differ_by_step = 0;
    for (int t = 0; t < 40; ++t) {
      EXPECT_EQ(active(d1, 42, t), active(d2, 42, t));
      differ_by_seed += active(d1, 42, t) != active(d1, 43, t);
      differ_by_step += active(d1, 42, t) != active(d1, 42, t + 3);
    }
    EXPECT_GT(differ_by_seed, 10) << zo::to_string(order);
    EXPECT_GT(differ_by_step, 10) << zo::to_string(order);
  }
}

TEST(Direction, MovingNumelSumsTheBlocks) {
  Fixture f({{3, 4}, {5}, {2, 2, 2}});
  const zo::Direction d({}, f.set);
  const std::vector<std::uint32_t> blocks = {0, 2};
  EXPECT_EQ(d.moving_numel(f.set, blocks), 20);
  const std::vector<std::uint32_t> bad = {3};
  expect_error([&] { d.moving_numel(f.set, bad); }, {"block index 3", "3 blocks"});
}

TEST(Direction, DenseFillIsTheValueStreamNormal) {
  Fixture f({{7, 9}});
  const zo::Direction d({}, f.set);
  const zo::Param& p = f.set.param(0);
  const zo::Draw draw{99, 1.0f};
  std::vector<float> z(63), ref(63);
  d.fill(p, draw, 0, 63, z.data());
  zo::fill_normal({99, p.key, zo::Stream::value}, 0, 63, ref.data());
  EXPECT_EQ(z, ref);
  const zo::Draw scaled{99, 2.5f};
  d.fill(p, scaled, 0, 63, z.data());
  for (int i = 0; i < 63; ++i) EXPECT_EQ(z[i], ref[i] * 2.5f);
  expect_error([&] { d.fill(p, draw, 60, 4, z.data()); }, {"'p0'", "[60, 60 + 4)", "63"});
}

TEST(Direction, RademacherFillIsTheValueStreamSign) {
  Fixture f(Shapes{{100}});
  DirectionOptions o;
  o.distribution = Distribution::rademacher;
  const zo::Direction d(o, f.set);
  const zo::Param& p = f.set.param(0);
  std::vector<float> z(100), ref(100);
  d.fill(p, {5, 1.0f}, 0, 100, z.data());
  zo::fill_rademacher({5, p.key, zo::Stream::value}, 0, 100, ref.data());
  EXPECT_EQ(z, ref);
}

// The sparse definition of direction.hpp, written out with the public streams.
std::vector<float> sparse_reference(const DirectionOptions& o, const zo::Param& p, std::uint64_t seed) {
  const std::int64_t S = zo::kSparseSpan;
  const std::int64_t g = o.granule;
  const std::int64_t units = S / g;
  std::vector<float> z(std::size_t(p.numel), 0.0f);
  const auto scale = float(1.0 / std::sqrt(o.keep));
  for (std::int64_t c = 0; c * S < p.numel; ++c) {
    std::vector<std::uint32_t> gaps(static_cast<std::size_t>(units));
    zo::fill_gaps({seed, p.key, zo::Stream::mask}, c * S, units, o.keep, gaps.data());
    std::vector<float> values(static_cast<std::size_t>(S));
    if (o.distribution == Distribution::rademacher) {
      zo::fill_rademacher({seed, p.key, zo::Stream::value}, c * S, S, values.data());
    } else {
      zo::fill_normal({seed, p.key, zo::Stream::value}, c * S, S, values.data());
    }
    std::int64_t run = -1;
    std::int64_t k = 0;  // the span's kept coordinates so far: the k-th takes value k
    for (std::int64_t j = 0; j < units; ++j) {
      run += 1 + std::int64_t(gaps[std::size_t(j)]);
      if (run >= units) break;
      for (std::int64_t r = 0; r < g; ++r, ++k) {
        const std::int64_t pos = run * g + r;
        if (c * S + pos < p.numel) z[std::size_t(c * S + pos)] = values[std::size_t(k)] * scale;
      }
    }
  }
  return z;
}

TEST(Direction, SparseKeepsTheGapDrawnCoordinatesWithTheSpansValuesScaled) {
  Fixture f(Shapes{{200000}});
  for (const int granule : {1, 16, 64}) {
    for (const Distribution dist : {Distribution::gaussian, Distribution::rademacher}) {
      for (const double keep : {0.01, 0.1, 0.5, 1.0}) {
        DirectionOptions o;
        o.kind = DirectionKind::sparse;
        o.keep = keep;
        o.granule = granule;
        o.distribution = dist;
        const zo::Direction d(o, f.set);
        const zo::Param& p = f.set.param(0);
        const std::int64_t n = p.numel;
        std::vector<float> z(n);
        d.fill(p, {17, 1.0f}, 0, n, z.data());
        const std::vector<float> ref = sparse_reference(o, p, 17);
        std::int64_t kept = 0;
        for (std::int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(std::bit_cast<std::uint32_t>(z[std::size_t(i)]), std::bit_cast<std::uint32_t>(ref[std::size_t(i)]))
              << zo::to_string(dist) << " keep " << keep << " granule " << granule << " at " << i;
          kept += z[std::size_t(i)] != 0.0f ? 1 : 0;
          // A run of `granule` coordinates (aligned to the param's start) is kept or dropped whole.
          if (i % granule != 0) {
            ASSERT_EQ(z[std::size_t(i)] != 0.0f, z[std::size_t(i - 1)] != 0.0f) << i;
          }
        }
        // Kept fraction within 5 binomial standard deviations of keep (runs are the trials).
        const double runs = double(n) / granule;
        EXPECT_NEAR(double(kept) / granule, keep * runs, 5 * std::sqrt(runs * keep * (1 - keep)) + 0.5)
            << zo::to_string(dist) << " keep " << keep << " granule " << granule;
      }
    }
  }
}

TEST(Direction, SparseSpansAreIndependentAndKeepIndependently) {
  // 400 spans; per-span kept counts must look binomial(S, keep), with no correlation between a span
  // and the next (each span draws from its own words only).
  const std::int64_t S = zo::kSparseSpan;
  const std::int64_t spans = 400;
  Fixture f(Shapes{{S * spans}});
  DirectionOptions o;
  o.kind = DirectionKind::sparse;
  o.keep = 0.1;
  const zo::Direction d(o, f.set);
  const zo::Param& p = f.set.param(0);
  std::vector<float> z(std::size_t(p.numel));
  d.fill(p, {5, 1.0f}, 0, p.numel, z.data());
  std::vector<double> counts(spans, 0.0);
  std::vector<std::uint8_t> kept(std::size_t(p.numel));
  for (std::int64_t i = 0; i < p.numel; ++i) {
    kept[std::size_t(i)] = z[std::size_t(i)] != 0.0f;
    counts[std::size_t(i / S)] += kept[std::size_t(i)];
  }
  double mean = 0, var = 0, lag = 0;
  for (double c : counts) mean += c / spans;
  for (double c : counts) var += (c - mean) * (c - mean) / (spans - 1);
  for (std::int64_t c = 0; c + 1 < spans; ++c) lag += (counts[std::size_t(c)] - mean) * (counts[std::size_t(c + 1)] - mean);
  lag /= double(spans - 1) * var;
  const double binomial_var = S * 0.1 * 0.9;
  EXPECT_NEAR(mean, S * 0.1, 5 * std::sqrt(binomial_var / spans));
  EXPECT_GT(var, 0.7 * binomial_var);  // a chi-square with 399 degrees of freedom stays within ±30 %
  EXPECT_LT(var, 1.3 * binomial_var);
  EXPECT_LT(std::abs(lag), 5.0 / std::sqrt(double(spans)));
  // Neighbouring coordinates, also across span boundaries, are kept independently: P(both) ≈ keep².
  double both = 0, across = 0;
  for (std::int64_t i = 0; i + 1 < p.numel; ++i) both += kept[std::size_t(i)] & kept[std::size_t(i + 1)];
  for (std::int64_t c = 1; c < spans; ++c) {
    for (std::int64_t k = 0; k < 16; ++k) across += kept[std::size_t(c * S - 1 - k)] & kept[std::size_t(c * S + k)];
  }
  EXPECT_NEAR(both / double(p.numel - 1), 0.01, 5 * std::sqrt(0.01 / double(p.numel)));
  EXPECT_NEAR(across / double(16 * (spans - 1)), 0.01, 5 * std::sqrt(0.01 / double(16 * (spans - 1))));
  // Two spans never repeat each other's pattern.
  std::set<std::vector<std::uint8_t>> patterns;
  for (std::int64_t c = 0; c < spans; ++c) patterns.emplace(kept.begin() + c * S, kept.begin() + (c + 1) * S);
  EXPECT_EQ(patterns.size(), std::size_t(spans));
}

TEST(Direction, LowRankFillIsUVTransposeOverSqrtRank) {
  Fixture f({{37, 101}, {5}});
  for (const int r : {1, 3, 10}) {  // 10: above the register-blocked ranks
    DirectionOptions o;
    o.kind = DirectionKind::low_rank;
    o.rank = r;
    const zo::Direction d(o, f.set);
    const zo::Param& w = f.set.param(0);
    const zo::Draw draw{2718, 1.5f};
    std::vector<float> u(static_cast<std::size_t>(37 * r)), v(static_cast<std::size_t>(101 * r));
    zo::fill_normal({2718, w.key, zo::Stream::low_rank_u}, 0, 37 * r, u.data());
    zo::fill_normal({2718, w.key, zo::Stream::low_rank_v}, 0, 101 * r, v.data());
    std::vector<float> z(37 * 101);
    d.fill(w, draw, 0, 37 * 101, z.data());
    for (int i = 0; i < 37; ++i) {
      for (int j = 0; j < 101; ++j) {
        double ref = 0, mag = 0;
        for (int k = 0; k < r; ++k) {
          ref += double(u[std::size_t(i * r + k)]) * v[std::size_t(j * r + k)];
          mag += std::abs(double(u[std::size_t(i * r + k)]) * v[std::size_t(j * r + k)]);
        }
        ref *= 1.5 / std::sqrt(double(r));
        mag *= 1.5 / std::sqrt(double(r));
        ASSERT_NEAR(z[std::size_t(i * 101 + j)], ref, 1e-6 * mag + 1e-30) << "rank " << r << " at " << i << "," << j;
      }
    }
    // The 1-D param moves densely.
    const zo::Param& b = f.set.param(1);
    std::vector<float> zb(5), ref(5);
    d.fill(b, draw, 0, 5, zb.data());
    zo::fill_normal({2718, b.key, zo::Stream::value}, 0, 5, ref.data());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(zb[i], ref[i] * 1.5f);
  }
}

TEST(Direction, FillOfAnySubrangeEqualsTheSliceOfTheWhole) {
  Fixture f({{37, 101}});
  for (auto [kind, rank, dist] : std::vector<std::tuple<DirectionKind, int, Distribution>>{
           {DirectionKind::dense, 1, Distribution::gaussian}, {DirectionKind::dense, 1, Distribution::rademacher},
           {DirectionKind::sparse, 1, Distribution::gaussian}, {DirectionKind::sparse, 1, Distribution::rademacher},
           {DirectionKind::low_rank, 4, Distribution::gaussian}, {DirectionKind::low_rank, 9, Distribution::rademacher}}) {
    DirectionOptions o;
    o.kind = kind;
    o.distribution = dist;
    o.keep = 0.3;
    o.rank = rank;
    const zo::Direction d(o, f.set);
    const zo::Param& p = f.set.param(0);
    std::vector<float> whole(std::size_t(p.numel));
    d.fill(p, {4, 1.0f}, 0, p.numel, whole.data());
    for (auto [begin, n] : std::vector<std::pair<int, int>>{
             {0, 1}, {1, 100}, {99, 205}, {101, 3}, {3000, 737}, {2000, 100}, {2047, 2}, {31, 2050}, {33, 3704}}) {
      std::vector<float> part(static_cast<std::size_t>(n));
      d.fill(p, {4, 1.0f}, begin, n, part.data());
      for (int k = 0; k < n; ++k) {
        ASSERT_EQ(part[std::size_t(k)], whole[std::size_t(begin + k)]) << zo::to_string(kind) << " at " << begin + k;
      }
    }
  }
}

TEST(Direction, SphereDrawScalesZToNormSqrtD) {
  Fixture f({{300}, {77}, {500}});
  DirectionOptions o;
  o.distribution = Distribution::sphere;
  const zo::Direction d(o, f.set);
  const std::vector<std::uint32_t> blocks = {0, 2};
  const zo::Draw draw = d.draw(f.set, blocks, 1234);
  EXPECT_EQ(draw.seed, 1234u);
  double sum = 0;
  for (auto b : blocks) {
    const zo::Param& p = f.set.param(b);
    std::vector<float> z(std::size_t(p.numel));
    d.fill(p, draw, 0, p.numel, z.data());
    for (float v : z) sum += double(v) * v;
  }
  EXPECT_NEAR(sum, 800.0, 800.0 * 1e-5);
  const zo::Direction gaussian({}, f.set);
  EXPECT_EQ(gaussian.draw(f.set, blocks, 1234).scale, 1.0f);
}

// E[z zᵀ] over many seeds on a small moving set; every entry within 6 standard errors of I.
void expect_identity_second_moment(const DirectionOptions& o, const std::vector<std::vector<std::int64_t>>& shapes,
                                   int draws) {
  Fixture f(shapes);
  const zo::Direction d(o, f.set);
  std::vector<std::uint32_t> blocks(f.set.blocks().size());
  for (std::uint32_t b = 0; b < blocks.size(); ++b) blocks[b] = b;
  const std::int64_t dim = d.moving_numel(f.set, blocks);
  std::vector<double> sum(std::size_t(dim * dim), 0.0), sum_sq(std::size_t(dim * dim), 0.0);
  std::vector<float> z(static_cast<std::size_t>(dim));
  for (int s = 0; s < draws; ++s) {
    const zo::Draw draw = d.draw(f.set, blocks, zo::derive_seed(77, std::uint64_t(s)));
    std::int64_t offset = 0;
    for (const zo::Param& p : f.set.params()) {
      d.fill(p, draw, 0, p.numel, z.data() + offset);
      offset += p.numel;
    }
    for (std::int64_t a = 0; a < dim; ++a) {
      for (std::int64_t b = 0; b < dim; ++b) {
        const double x = double(z[std::size_t(a)]) * z[std::size_t(b)];
        sum[std::size_t(a * dim + b)] += x;
        sum_sq[std::size_t(a * dim + b)] += x * x;
      }
    }
  }
  for (std::int64_t a = 0; a < dim; ++a) {
    for (std::int64_t b = 0; b < dim; ++b) {
      const double mean = sum[std::size_t(a * dim + b)] / draws;
      const double var = std::max(sum_sq[std::size_t(a * dim + b)] / draws - mean * mean, 1e-12);
      EXPECT_NEAR(mean, a == b ? 1.0 : 0.0, 6 * std::sqrt(var / draws) + 1e-9)
          << zo::to_string(o.kind) << "/" << zo::to_string(o.distribution) << " entry " << a << "," << b;
    }
  }
}

TEST(Direction, SecondMomentIsIdentityForEveryKindAndDistribution) {
  const std::vector<std::vector<std::int64_t>> shapes = {{2, 3}, {2}};
  DirectionOptions o;
  expect_identity_second_moment(o, shapes, 20000);
  o.distribution = Distribution::rademacher;
  expect_identity_second_moment(o, shapes, 20000);
  o.distribution = Distribution::sphere;
  expect_identity_second_moment(o, shapes, 20000);
  o = {};
  o.kind = DirectionKind::sparse;
  o.keep = 0.4;
  expect_identity_second_moment(o, shapes, 20000);
  o.distribution = Distribution::rademacher;
  expect_identity_second_moment(o, shapes, 20000);
  o = {};
  o.kind = DirectionKind::low_rank;
  o.rank = 2;
  expect_identity_second_moment(o, shapes, 20000);
  o.distribution = Distribution::rademacher;
  expect_identity_second_moment(o, shapes, 20000);
}

}  // namespace
