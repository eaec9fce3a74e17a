// The cases both CUDA test files run: every direction kind, and params whose shapes reach the edges
// of the passes (a 2-D param for low-rank, a 1-D one ending inside a sparse span, a scalar).
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace zo_cuda_test {

inline std::vector<zo::DirectionOptions> all_kinds() {
  std::vector<zo::DirectionOptions> out;
  for (const auto dist : {zo::Distribution::gaussian, zo::Distribution::rademacher, zo::Distribution::sphere}) {
    zo::DirectionOptions o;
    o.distribution = dist;
    out.push_back(o);
  }
  for (const auto dist : {zo::Distribution::gaussian, zo::Distribution::rademacher}) {
    for (const auto& [keep, granule] : {std::pair{0.1, 1}, std::pair{0.1, 16}, std::pair{0.5, 64}, std::pair{1.0, 1}}) {
      zo::DirectionOptions o;
      o.kind = zo::DirectionKind::sparse;
      o.distribution = dist;
      o.keep = keep;
      o.granule = granule;
      out.push_back(o);
    }
    for (const int rank : {1, 4, 11}) {
      zo::DirectionOptions o;
      o.kind = zo::DirectionKind::low_rank;
      o.distribution = dist;
      o.rank = rank;
      out.push_back(o);
    }
  }
  return out;
}

inline std::string describe(const zo::DirectionOptions& o) {
  return std::string(zo::to_string(o.kind)) + " " + std::string(zo::to_string(o.distribution)) + " keep " +
         std::to_string(o.keep) + " granule " + std::to_string(o.granule) + " rank " + std::to_string(o.rank);
}

inline const std::vector<std::pair<std::string, std::vector<std::int64_t>>> kParams = {
    {"layers.0.weight", {37, 300}}, {"layers.0.bias", {5000}}, {"scale", {1}}};

inline std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

// θ's starting values for a param of n elements: spread over [−10, 10], none of them 0.
inline std::vector<float> start_values(std::int64_t n) {
  std::vector<float> values(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) values[std::size_t(i)] = 0.01f * float((i * 7919) % 2001 - 1000);
  return values;
}

// Calls check(options, direction, param, draw, begin, n) for every direction kind (drawn over all
// blocks of a float32 set of kParams) and every param, on the whole param and on a range cut at both
// ends.
template <class Check>
void for_each_fill_case(Check check) {
  std::vector<std::vector<float>> storage;
  zo::ParamSet set;
  for (const auto& [name, shape] : kParams) {
    storage.emplace_back(std::size_t(numel(shape)));
    set.add(name, zo::DType::f32, shape, storage.back().data());
  }
  std::vector<std::uint32_t> all;
  for (std::uint32_t b = 0; b < set.blocks().size(); ++b) all.push_back(b);
  for (const zo::DirectionOptions& o : all_kinds()) {
    const zo::Direction direction(o, set);
    const zo::Draw draw = direction.draw(set, all, 0x1234567890abcdefull);
    if (o.distribution == zo::Distribution::sphere) {
      ASSERT_NE(draw.scale, 1.0f) << "a sphere draw's scale is sqrt(d) / |z|";
    }
    for (const zo::Param& p : set.params()) {
      const std::int64_t cut = std::min<std::int64_t>(13, p.numel - 1);
      for (const auto& [begin, end] : {std::pair<std::int64_t, std::int64_t>{0, p.numel},
                                       std::pair<std::int64_t, std::int64_t>{cut, std::max(p.numel - 7, cut + 1)}}) {
        check(o, direction, p, draw, begin, end - begin);
      }
    }
  }
}

}  // namespace zo_cuda_test
