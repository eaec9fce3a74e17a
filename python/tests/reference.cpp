// zo_py_reference: what the Python tests compare the package with, computed by the C++ library alone.
//
//   zo_py_reference z        kind= distribution= order= seed= step=
//       The first probe's active blocks, draw and z (Direction::fill, the reference definition) over a
//       fixed set of float32 params.
//   zo_py_reference estimate dtype= kind= distribution= difference= queries= seed= step= eps=
//       One Estimator::estimate on fixed params of `dtype` and a fixed linear loss: ρ, the loss and θ
//       after the in-place protocol (raw storage bits).
//   zo_py_reference minimize n= optimizer= direction= difference= queries= steps= lr= eps= seed= momentum=
//       zo::minimize on f(x) = Σ_i (1 + i mod 7)(x_i − 0.5)², x0_i = ((i mod 5) − 2)/4: x (bits), the
//       per-step losses, the final loss, termination and message.
//
// Output: one "key value value …" line per item; floats as their bits in hex, doubles as %.17g.
// python/tests/reference.py holds the same fixtures on the Python side.
#include "zo/core/direction.hpp"
#include "zo/core/dtype.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/minimize.hpp"
#include "zo/util/error.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace {

using Args = std::map<std::string, std::string>;

std::string get(const Args& a, const std::string& key, const std::string& fallback = "") {
  const auto it = a.find(key);
  if (it != a.end()) return it->second;
  if (fallback.empty()) zo::fail("missing argument {}=", key);
  return fallback;
}

void print_floats(const char* key, const std::string& name, const float* v, std::size_t n) {
  std::printf("%s %s", key, name.c_str());
  for (std::size_t i = 0; i < n; ++i) std::printf(" %08x", std::bit_cast<std::uint32_t>(v[i]));
  std::printf("\n");
}

zo::DirectionOptions direction_options(const Args& a) {
  zo::DirectionOptions o;
  o.kind = zo::direction_kind_from_string(get(a, "kind", "dense"));
  o.distribution = zo::distribution_from_string(get(a, "distribution", "gaussian"));
  o.order = zo::block_order_from_string(get(a, "order", "all"));
  o.keep = 0.3;
  o.rank = 3;
  o.blocks_per_step = 2;
  return o;
}

// The fixed params of `z`: names and shapes (float32, zero).
const std::vector<std::pair<std::string, std::vector<std::int64_t>>> kZParams = {
    {"embed.weight", {40, 24}}, {"layers.0.w", {24, 24}}, {"layers.0.b", {24}},
    {"layers.1.w", {33, 5}},    {"head.b", {7}},          {"big", {5000}}};

int run_z(const Args& a) {
  std::vector<std::vector<float>> storage;
  zo::ParamSet params;
  for (const auto& [name, shape] : kZParams) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    storage.emplace_back(std::size_t(n), 0.0f);
    params.add(name, zo::DType::f32, shape, storage.back().data());
  }
  const zo::Direction direction(direction_options(a), params);
  const std::uint64_t seed = std::stoull(get(a, "seed"));
  const std::int64_t step = std::stoll(get(a, "step"));
  const auto blocks = direction.active_blocks(seed, step);
  const zo::Draw draw = direction.draw(params, blocks, zo::probe_seed(seed, step, 0));
  std::printf("blocks");
  for (auto b : blocks) std::printf(" %u", b);
  std::printf("\ndraw %llu %08x\n", static_cast<unsigned long long>(draw.seed), std::bit_cast<std::uint32_t>(draw.scale));
  for (std::size_t i = 0; i < params.params().size(); ++i) {
    const zo::Param& p = params.param(i);
    std::vector<float> z(std::size_t(p.numel), 0.0f);
    bool moving = false;
    for (auto b : blocks) moving = moving || params.block_of(i) == b;
    if (moving) direction.fill(p, draw, 0, p.numel, z.data());
    print_floats("z", p.name, z.data(), z.size());
  }
  return 0;
}

// θ_i = (((7i) mod 17) − 8) / 16: exact in float32, float16 and bfloat16.
float initial_theta(std::int64_t i) { return float((7 * i) % 17 - 8) / 16.0f; }

int run_estimate(const Args& a) {
  const zo::DType dtype = zo::dtype_from_string(get(a, "dtype"));
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes = {{"w", {30, 20}}, {"b", {20}}, {"v", {3000}}};
  std::vector<std::vector<unsigned char>> storage;
  zo::ParamSet params;
  for (const auto& [name, shape] : shapes) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> init(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) init[std::size_t(i)] = initial_theta(i);
    storage.emplace_back(std::size_t(n) * zo::size_of(dtype));
    zo::from_f32(dtype, init.data(), storage.back().data(), std::size_t(n));
    params.add(name, dtype, shape, storage.back().data());
  }
  // loss = Σ over params in order, Σ_{i < 50} (i + 1)·θ_i, in double.
  const zo::Loss loss = [&] {
    double s = 0.0;
    for (const zo::Param& p : params.params()) {
      const std::int64_t n = std::min<std::int64_t>(p.numel, 50);
      std::vector<float> v(static_cast<std::size_t>(n));
      zo::to_f32(p.dtype, p.data, v.data(), std::size_t(n));
      for (std::int64_t i = 0; i < n; ++i) s += double(i + 1) * double(v[std::size_t(i)]);
    }
    return s;
  };
  const zo::Direction direction(direction_options(a), params);
  const zo::Estimator estimator({.eps = std::stod(get(a, "eps")),
                                 .queries = std::stoi(get(a, "queries")),
                                 .difference = zo::difference_from_string(get(a, "difference"))});
  const zo::Estimate e = estimator.estimate(loss, params, direction, std::stoull(get(a, "seed")), std::stoll(get(a, "step")));
  std::printf("rhos");
  for (const auto& p : e.probes) std::printf(" %.17g", p.rho);
  std::printf("\nloss %.17g\n", e.loss);
  for (const zo::Param& p : params.params()) {
    std::printf("theta %s", p.name.c_str());
    const auto* bytes = static_cast<const unsigned char*>(p.data);
    for (std::int64_t i = 0; i < p.numel; ++i) {
      if (p.dtype == zo::DType::f32) {
        std::uint32_t u;
        std::memcpy(&u, bytes + 4 * i, 4);
        std::printf(" %08x", u);
      } else {
        std::uint16_t u;
        std::memcpy(&u, bytes + 2 * i, 2);
        std::printf(" %04x", u);
      }
    }
    std::printf("\n");
  }
  return 0;
}

int run_minimize(const Args& a) {
  const auto n = std::size_t(std::stoul(get(a, "n")));
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = float(int(i % 5) - 2) / 4.0f;
  const auto f = [](std::span<const float> v) {
    double s = 0.0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double d = double(v[i]) - 0.5;
      s += double(1 + i % 7) * d * d;
    }
    return s;
  };
  zo::MinimizeOptions o;
  o.max_steps = std::stoll(get(a, "steps"));
  o.seed = std::stoull(get(a, "seed"));
  const std::string direction = get(a, "direction", "gaussian");
  if (direction == "gaussian" || direction == "rademacher" || direction == "sphere") {
    o.direction.distribution = zo::distribution_from_string(direction);
  } else {
    o.direction.kind = zo::direction_kind_from_string(direction);
  }
  o.direction.keep = std::stod(get(a, "keep", "0.1"));
  o.estimator = {.eps = std::stod(get(a, "eps")),
                 .queries = std::stoi(get(a, "queries", "1")),
                 .difference = zo::difference_from_string(get(a, "difference", "central"))};
  o.optimizer.kind = zo::optimizer_kind_from_string(get(a, "optimizer"));
  o.optimizer.lr = std::stod(get(a, "lr"));
  o.optimizer.momentum = std::stod(get(a, "momentum", "0"));
  std::vector<double> history;
  o.callbacks.push_back([&](const zo::StepInfo& info) {
    history.push_back(info.loss);
    return true;
  });
  const zo::Summary s = zo::minimize(f, x, o);
  print_floats("x", "x", x.data(), x.size());
  std::printf("history");
  for (double h : history) std::printf(" %.17g", h);
  std::printf("\nloss %.17g\ntermination %s\nmessage %s\n", s.final_loss, std::string(zo::to_string(s.termination)).c_str(),
              s.message.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) zo::fail("usage: zo_py_reference z|estimate|minimize key=value …");
    Args a;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      const auto eq = arg.find('=');
      if (eq == std::string::npos) zo::fail("argument '{}': expected key=value", arg);
      a[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
    const std::string mode = argv[1];
    if (mode == "z") return run_z(a);
    if (mode == "estimate") return run_estimate(a);
    if (mode == "minimize") return run_minimize(a);
    zo::fail("unknown mode '{}': expected z, estimate or minimize", mode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zo_py_reference: %s\n", e.what());
    return 2;
  }
}
