// Fused perturb / update passes: they touch exactly the moving coordinates, add exactly
// Direction::fill's z, and give the same bits for any thread count.
#include "zo/util/error.hpp"
#include "zo/core/kernels.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace {

using zo::BlockOrder;
using zo::DirectionKind;
using zo::DirectionOptions;
using zo::Distribution;
using zo::DType;

// Params of mixed shapes (chunk-unaligned sizes, a 2-D matrix spanning several chunks), stored as
// f32 except where the test asks for f16/bf16, filled with a deterministic pattern.
struct Model {
  std::vector<std::vector<std::uint32_t>> storage;  // 4-byte words hold any dtype
  zo::ParamSet set;

  explicit Model(DType low_precision = DType::f32) {
    add("embed", DType::f32, {3000});
    add("layers.0.w", DType::f32, {37, 101});
    add("layers.0.b", low_precision, {101});
    add("layers.1.w", low_precision, {64, 70});
    add("layers.1.b", DType::f32, {70});
    add("head", DType::f32, {5000});
  }

  void add(const std::string& name, DType dtype, std::vector<std::int64_t> shape) {
    std::int64_t numel = 1;
    for (auto d : shape) numel *= d;
    storage.emplace_back(std::size_t(numel), 0u);
    void* data = storage.back().data();
    const std::size_t index = set.add(name, dtype, shape, data);
    std::vector<float> init(static_cast<std::size_t>(numel));
    for (std::int64_t i = 0; i < numel; ++i) init[std::size_t(i)] = std::sin(0.37f * float(i) + float(index));
    zo::from_f32(dtype, init.data(), data, std::size_t(numel));
  }

  std::vector<float> values(std::size_t i) const {
    const zo::Param& p = set.param(i);
    std::vector<float> out(static_cast<std::size_t>(p.numel));
    zo::to_f32(p.dtype, p.data, out.data(), out.size());
    return out;
  }

  std::vector<std::vector<std::uint32_t>> snapshot() const { return storage; }
};

std::vector<std::uint32_t> all_blocks(const zo::ParamSet& set) {
  std::vector<std::uint32_t> blocks(set.blocks().size());
  for (std::uint32_t b = 0; b < blocks.size(); ++b) blocks[b] = b;
  return blocks;
}

std::vector<DirectionOptions> every_kind() {
  std::vector<DirectionOptions> kinds(6);
  kinds[1].distribution = Distribution::rademacher;
  kinds[2].distribution = Distribution::sphere;
  kinds[3].kind = DirectionKind::sparse;
  kinds[3].keep = 0.2;
  kinds[4].kind = DirectionKind::low_rank;
  kinds[4].rank = 3;
  kinds[5].kind = DirectionKind::sparse;
  kinds[5].keep = 0.2;
  kinds[5].granule = 16;
  return kinds;
}

std::string label(const DirectionOptions& o) {
  return fmt::format("{}/{}/granule {}", zo::to_string(o.kind), zo::to_string(o.distribution), o.granule);
}

TEST(Perturb, AddsAlphaTimesFillToEveryMovingCoordinate) {
  for (const DirectionOptions& o : every_kind()) {
    Model m;
    m.set.block_by_pattern("layers\\.(\\d+)\\.");
    const zo::Direction d(o, m.set);
    const auto blocks = all_blocks(m.set);
    const zo::Draw draw = d.draw(m.set, blocks, 31);
    std::vector<std::vector<float>> before;
    for (std::size_t i = 0; i < m.set.params().size(); ++i) before.push_back(m.values(i));
    zo::perturb(m.set, d, blocks, draw, 0.01f);
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      const zo::Param& p = m.set.param(i);
      std::vector<float> z(static_cast<std::size_t>(p.numel));
      d.fill(p, draw, 0, p.numel, z.data());
      const auto after = m.values(i);
      for (std::size_t j = 0; j < z.size(); ++j) {
        const float expect = before[i][j] + 0.01f * z[j];
        ASSERT_NEAR(after[j], expect, 1e-6f * (std::abs(expect) + 1e-3f)) << label(o) << " " << p.name << "[" << j << "]";
      }
    }
  }
}

TEST(Perturb, GivesTheSameBitsWithOneTwoOrThreeThreads) {
  for (const DType low_precision : {DType::bf16, DType::f32}) {
    for (const DirectionOptions& o : every_kind()) {
      std::vector<std::vector<std::vector<std::uint32_t>>> results;
      for (const int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        Model m(low_precision);
        const zo::Direction d(o, m.set);
        const auto blocks = all_blocks(m.set);
        zo::perturb(m.set, d, blocks, d.draw(m.set, blocks, 5), 0.5f);
        results.push_back(m.snapshot());
      }
      omp_set_num_threads(omp_get_num_procs());
      EXPECT_EQ(results[0], results[1]) << label(o) << " " << zo::to_string(low_precision);
      EXPECT_EQ(results[0], results[2]) << label(o) << " " << zo::to_string(low_precision);
    }
  }
}

TEST(Perturb, BlockCoordinatePassLeavesOtherBlocksBitForBitUnchanged) {
  for (const DirectionOptions& base : every_kind()) {
    Model m(DType::f16);
    m.set.block_by_pattern("layers\\.(\\d+)\\.");  // embed, layers.0., layers.1., head
    DirectionOptions o = base;
    o.order = BlockOrder::cyclic;
    const zo::Direction d(o, m.set);
    const auto before = m.snapshot();
    const auto active = d.active_blocks(1, 2);  // block 2: layers.1.
    ASSERT_EQ(active, (std::vector<std::uint32_t>{2}));
    zo::perturb(m.set, d, active, d.draw(m.set, active, 8), 1.0f);
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      if (m.set.block_of(i) == 2) {
        EXPECT_NE(m.storage[i], before[i]) << label(o) << " " << m.set.param(i).name;
      } else {
        EXPECT_EQ(m.storage[i], before[i]) << label(o) << " " << m.set.param(i).name;
      }
    }
  }
}

TEST(Perturb, DenseRademacherPassIsFmaOfTheFillBitForBit) {
  for (const DType dtype : {DType::f32, DType::bf16}) {
    Model m(dtype);
    DirectionOptions o;
    o.distribution = Distribution::rademacher;
    const zo::Direction d(o, m.set);
    const auto blocks = all_blocks(m.set);
    const zo::Draw draw = d.draw(m.set, blocks, 44);
    std::vector<std::vector<float>> before;
    for (std::size_t i = 0; i < m.set.params().size(); ++i) before.push_back(m.values(i));
    zo::perturb(m.set, d, blocks, draw, 0.3f);
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      const zo::Param& p = m.set.param(i);
      std::vector<float> z(static_cast<std::size_t>(p.numel));
      d.fill(p, draw, 0, p.numel, z.data());
      const auto after = m.values(i);
      for (std::size_t j = 0; j < z.size(); ++j) {
        const float sum = std::fma(0.3f, z[j], before[i][j]);
        std::uint32_t stored = 0;
        zo::from_f32(p.dtype, &sum, &stored, 1);
        float expect;
        zo::to_f32(p.dtype, &stored, &expect, 1);
        ASSERT_EQ(std::bit_cast<std::uint32_t>(after[j]), std::bit_cast<std::uint32_t>(expect)) << p.name << "[" << j << "]";
      }
    }
  }
}

TEST(Perturb, SparsePassWritesOnlyTheKeptCoordinates) {
  // θ = −0.0 everywhere: a dense pass adding a·0 would turn the unkept ones into +0.0.
  for (const DType dtype : {DType::f32, DType::bf16}) {
    Model m(dtype);
    for (const zo::Param& p : m.set.params()) {
      const std::vector<float> minus_zero(static_cast<std::size_t>(p.numel), -0.0f);
      zo::from_f32(p.dtype, minus_zero.data(), p.data, minus_zero.size());
    }
    DirectionOptions o;
    o.kind = DirectionKind::sparse;
    o.keep = 0.05;
    const zo::Direction d(o, m.set);
    const auto blocks = all_blocks(m.set);
    const zo::Draw draw = d.draw(m.set, blocks, 12);
    zo::perturb(m.set, d, blocks, draw, 0.25f);
    std::int64_t kept = 0;
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      const zo::Param& p = m.set.param(i);
      std::vector<float> z(static_cast<std::size_t>(p.numel));
      d.fill(p, draw, 0, p.numel, z.data());
      const auto values = m.values(i);
      for (std::size_t j = 0; j < z.size(); ++j) {
        if (z[j] == 0.0f) {
          ASSERT_EQ(std::bit_cast<std::uint32_t>(values[j]), 0x80000000u) << p.name << "[" << j << "]";
        } else {
          ++kept;
          const float expect = 0.25f * z[j];
          std::uint32_t stored = 0;
          zo::from_f32(p.dtype, &expect, &stored, 1);  // rounded to the param's dtype …
          float back;
          zo::to_f32(p.dtype, &stored, &back, 1);      // … and read back
          ASSERT_EQ(values[j], back) << p.name << "[" << j << "]";
        }
      }
    }
    EXPECT_GT(kept, 0);
  }
}

TEST(Perturb, PlusThenMinusRestoresWithinRounding) {
  for (const DirectionOptions& o : every_kind()) {
    Model m;
    const zo::Direction d(o, m.set);
    const auto blocks = all_blocks(m.set);
    const zo::Draw draw = d.draw(m.set, blocks, 77);
    std::vector<std::vector<float>> before;
    for (std::size_t i = 0; i < m.set.params().size(); ++i) before.push_back(m.values(i));
    zo::perturb(m.set, d, blocks, draw, 1e-3f);
    zo::perturb(m.set, d, blocks, draw, -1e-3f);
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      const auto after = m.values(i);
      for (std::size_t j = 0; j < after.size(); ++j) {
        ASSERT_NEAR(after[j], before[i][j], 1e-6f) << label(o) << " " << m.set.param(i).name << "[" << j << "]";
      }
    }
  }
}

TEST(Perturb, LowPrecisionParamsAreRoundedOnce) {
  Model m(DType::bf16);
  const zo::Direction d({}, m.set);
  const auto blocks = all_blocks(m.set);
  const std::size_t i = 2;  // layers.0.b, bf16
  const auto before = m.values(i);
  zo::perturb(m.set, d, blocks, {9, 1.0f}, 0.25f);
  std::vector<float> z(before.size());
  d.fill(m.set.param(i), {9, 1.0f}, 0, std::int64_t(z.size()), z.data());
  const auto* stored = reinterpret_cast<const std::uint16_t*>(m.set.param(i).data);
  for (std::size_t j = 0; j < z.size(); ++j) {
    EXPECT_EQ(stored[j], zo::f32_to_bf16(before[j] + 0.25f * z[j])) << j;
  }
}

TEST(Perturb, RejectsBadBlockLists) {
  Model m;
  const zo::Direction d({}, m.set);
  const std::vector<std::uint32_t> out_of_range = {0, 6};
  const std::vector<std::uint32_t> twice = {1, 1};
  EXPECT_THROW(zo::perturb(m.set, d, out_of_range, {1, 1.0f}, 1.0f), zo::Error);
  EXPECT_THROW(zo::perturb(m.set, d, twice, {1, 1.0f}, 1.0f), zo::Error);
}

TEST(FusedUpdate, VisitsEachMovingCoordinateOnceWithFillsZ) {
  for (const DirectionOptions& base : every_kind()) {
    Model m(DType::f16);
    m.set.block_by_pattern("layers\\.(\\d+)\\.");
    DirectionOptions o = base;
    o.order = BlockOrder::permutation;
    o.blocks_per_step = 2;
    const zo::Direction d(o, m.set);
    const auto active = d.active_blocks(3, 0);
    ASSERT_EQ(active.size(), 2u);
    const std::vector<zo::Draw> draws = {d.draw(m.set, active, 100), d.draw(m.set, active, 200)};
    std::vector<std::vector<std::atomic<int>>> visits;
    for (const zo::Param& p : m.set.params()) visits.emplace_back(static_cast<std::size_t>(p.numel));
    std::atomic<int> mismatches{0};
    const auto before = m.snapshot();
    zo::fused_update(m.set, d, active, draws, [&](const zo::UpdateChunk& c) {
      EXPECT_LE(c.n, zo::kChunk);
      EXPECT_EQ(c.z.size(), 2u);
      const zo::Param& p = m.set.param(c.param);
      for (std::size_t k = 0; k < 2; ++k) {
        std::vector<float> ref(static_cast<std::size_t>(c.n));
        d.fill(p, draws[k], c.begin, c.n, ref.data());
        if (std::memcmp(ref.data(), c.z[k], ref.size() * sizeof(float)) != 0) ++mismatches;
      }
      for (std::int64_t j = 0; j < c.n; ++j) {
        ++visits[c.param][std::size_t(c.begin + j)];
        c.theta[j] -= 0.5f * c.z[0][j];
      }
    });
    EXPECT_EQ(mismatches.load(), 0) << label(o);
    for (std::size_t i = 0; i < m.set.params().size(); ++i) {
      const bool moving = std::find(active.begin(), active.end(), m.set.block_of(i)) != active.end();
      for (std::size_t j = 0; j < visits[i].size(); ++j) {
        ASSERT_EQ(visits[i][j].load(), moving ? 1 : 0) << label(o) << " " << m.set.param(i).name << "[" << j << "]";
      }
      if (!moving) {
        EXPECT_EQ(m.storage[i], before[i]);
      }
    }
  }
}

TEST(FusedUpdate, WritesTheSameBitsWithOneTwoOrThreeThreads) {
  std::vector<std::vector<std::vector<std::uint32_t>>> results;
  for (const int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    Model m(DType::bf16);
    DirectionOptions o;
    o.kind = DirectionKind::low_rank;
    const zo::Direction d(o, m.set);
    const auto blocks = all_blocks(m.set);
    const std::vector<zo::Draw> draws = {{1, 1.0f}, {2, 1.0f}, {3, 1.0f}};
    zo::fused_update(m.set, d, blocks, draws, [](const zo::UpdateChunk& c) {
      for (std::int64_t j = 0; j < c.n; ++j) c.theta[j] -= 0.1f * c.z[0][j] - 0.2f * c.z[1][j] + 0.3f * c.z[2][j];
    });
    results.push_back(m.snapshot());
  }
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(FusedUpdate, PropagatesAVisitorsException) {
  Model m;
  const zo::Direction d({}, m.set);
  const auto blocks = all_blocks(m.set);
  const std::vector<zo::Draw> draws = {{1, 1.0f}};
  EXPECT_THROW(zo::fused_update(m.set, d, blocks, draws,
                                [](const zo::UpdateChunk& c) {
                                  if (c.param == 3) throw std::runtime_error("visitor failed");
                                }),
               std::runtime_error);
}

}  // namespace
