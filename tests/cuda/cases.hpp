// The cases the CUDA test files share: every direction kind, params whose shapes reach the edges of the
// passes (a 2-D param for low-rank, a 1-D one ending inside a sparse span, a scalar), and the update
// rules with the CPU optimizer's run of them (UpdateRun).
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/core/random.hpp"
#include "zo/cuda/update.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <memory>
#include <regex>
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

// start_values(n) stored as `dtype` (its bytes, as a param of that storage type holds them).
inline std::vector<std::uint8_t> stored_start_values(zo::DType dtype, std::int64_t n) {
  const std::vector<float> values = start_values(n);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n) * zo::size_of(dtype));
  zo::from_f32(dtype, values.data(), bytes.data(), static_cast<std::size_t>(n));
  return bytes;
}

// The tests' loss: Σ (θ − 0.3)² / 16000 over a ParamSet in host memory, read through its storage type.
inline double quadratic_loss(const zo::ParamSet& set) {
  double sum = 0.0;
  for (const zo::Param& p : set.params()) {
    std::vector<float> values(std::size_t(p.numel));
    zo::to_f32(p.dtype, p.data, values.data(), values.size());
    for (const float v : values) sum += (double(v) - 0.3) * (double(v) - 0.3);
  }
  return sum / 16000.0;
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

// The rules and option sets the update tests run (momentum, weight decay, bias correction, ζ outside the
// root, AMSGrad on and off).
inline std::vector<std::pair<std::string, zo::OptimizerOptions>> rule_cases() {
  std::vector<std::pair<std::string, zo::OptimizerOptions>> out;
  const auto add = [&](std::string label, zo::OptimizerKind kind, auto&& tweak) {
    zo::OptimizerOptions o;
    o.kind = kind;
    o.lr = 1e-2;
    tweak(o);
    out.emplace_back(std::move(label), o);
  };
  add("zo-sgd", zo::OptimizerKind::zo_sgd, [](auto&) {});
  add("zo-sgd momentum 0.9, weight decay 0.1", zo::OptimizerKind::zo_sgd, [](auto& o) {
    o.momentum = 0.9;
    o.weight_decay = 0.1;
  });
  add("zo-sign-sgd, weight decay 0.01", zo::OptimizerKind::zo_sign_sgd, [](auto& o) { o.weight_decay = 0.01; });
  add("zo-sgd-sign", zo::OptimizerKind::zo_sgd_sign, [](auto&) {});
  add("zo-rmsprop, zeta outside, bias correction", zo::OptimizerKind::zo_rmsprop, [](auto& o) {
    o.zeta_outside_root = true;
    o.bias_correction = true;
  });
  add("zo-adamm (AMSGrad), weight decay 0.05", zo::OptimizerKind::zo_adamm, [](auto& o) { o.weight_decay = 0.05; });
  add("zo-adamm without AMSGrad, bias correction", zo::OptimizerKind::zo_adamm, [](auto& o) {
    o.amsgrad = false;
    o.bias_correction = true;
  });
  add("r-adazo", zo::OptimizerKind::r_adazo, [](auto&) {});
  add("r-adazo, zeta outside, bias correction", zo::OptimizerKind::r_adazo, [](auto& o) {
    o.zeta_outside_root = true;
    o.bias_correction = true;
    o.zeta = 1e-6;
  });
  return out;
}

// zo::Optimizer::step on the CPU over kParams (stored as `dtype`, block-coordinate: two of the three
// params move at each step), and the ParamUpdate rows the CUDA update takes for the same steps: each
// param's lr, weight decay (0 where OptimizerOptions' default no_decay_pattern matches) and bias terms.
class UpdateRun {
 public:
  UpdateRun(const zo::OptimizerOptions& options, zo::DType dtype, const zo::DirectionOptions& kind)
      : options_(options), updates_(kParams.size(), 0) {
    zo::DirectionOptions o = kind;
    o.order = zo::BlockOrder::cyclic;
    o.blocks_per_step = 2;
    for (const auto& [name, shape] : kParams) {
      const std::int64_t n = numel(shape);
      const std::vector<float> values = start_values(n);
      data_.emplace_back(std::size_t(n) * zo::size_of(dtype));
      zo::from_f32(dtype, values.data(), data_.back().data(), std::size_t(n));
      cpu_.add(name, dtype, shape, data_.back().data());
    }
    start_ = data_;
    direction_ = std::make_unique<zo::Direction>(o, cpu_);
    optimizer_ = zo::Optimizer::create(options);
  }

  // θ's starting bytes of each param (before any step).
  const std::vector<std::vector<std::uint8_t>>& start() const { return start_; }
  const zo::ParamSet& cpu() const { return cpu_; }
  const zo::Direction& direction() const { return *direction_; }
  const std::vector<std::uint8_t>& cpu_bytes(std::size_t i) const { return data_[i]; }
  zo::StateDict state_dict() const { return optimizer_->state_dict(); }

  // Step t (two probes, a pending restore except at t = 1, a scheduled lr) on the CPU; returns its
  // estimate and rows (state pointers unset).
  std::pair<zo::Estimate, std::vector<zo::ParamUpdate>> step(std::int64_t t) {
    zo::Estimate e;
    e.step = t;
    e.blocks = direction_->active_blocks(11, t);
    for (int k = 0; k < 2; ++k) {
      const zo::Draw draw = direction_->draw(cpu_, e.blocks, zo::probe_seed(11, t, k));
      e.probes.push_back(zo::Probe{draw, k == 0 ? 0.37 + 0.5 * double(t) : -1.25});
    }
    if (t != 1) e.restore = zo::PendingRestore{1, 1e-3f};
    const double lr = options_.lr * (1.0 - 0.1 * double(t));
    optimizer_->step(cpu_, *direction_, e, lr);
    const std::regex no_decay(options_.no_decay_pattern);
    std::vector<zo::ParamUpdate> rows;
    for (const std::uint32_t b : e.blocks) {
      for (const std::size_t i : cpu_.blocks()[b].params) {
        ++updates_[i];
        zo::ParamUpdate row;
        row.param = i;
        row.lr = float(lr);
        row.weight_decay = std::regex_search(cpu_.param(i).name, no_decay) ? 0.0f : float(options_.weight_decay);
        if (options_.bias_correction) {
          row.bias1 = float(1.0 - std::pow(options_.beta1, double(updates_[i])));
          row.bias2 = float(1.0 - std::pow(options_.beta2, double(updates_[i])));
        }
        rows.push_back(row);
      }
    }
    return {e, rows};
  }

 private:
  zo::OptimizerOptions options_;
  std::vector<std::vector<std::uint8_t>> data_;
  std::vector<std::vector<std::uint8_t>> start_;
  zo::ParamSet cpu_;
  std::unique_ptr<zo::Direction> direction_;
  std::unique_ptr<zo::Optimizer> optimizer_;
  std::vector<std::int64_t> updates_;
};

}  // namespace zo_cuda_test
