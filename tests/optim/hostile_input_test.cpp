// Hostile optimizer state (a checkpoint's optimizer.zosd): a step count no int64 holds (7.1e194) was
// converted with undefined behaviour by load_state_dict (found by the checkpoint fuzz target after
// 670 955 executions, fuzz/corpus/checkpoint/regression-found-param-step-count; docs/reliability.md).
// It must be refused with a zo::Error naming the scalar.
#include "../test_util.hpp"

#include "zo/core/params.hpp"
#include "zo/optim/optimizer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using zo::test::expect_error;

std::string zosd_with_t(double t) {
  std::string b = "ZOSD";
  const auto u32 = [&](std::uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
  const auto u64 = [&](std::uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
  u32(1);
  u32(7);
  b += "r-adazo";
  u64(1);
  u32(1);
  b += "t";
  b.append(reinterpret_cast<const char*>(&t), 8);
  u64(0);
  return b;
}

TEST(HostileInput, OptimizerStateRefusesAStepCountNoIntegerHolds) {
  std::vector<float> w(2);
  zo::ParamSet set;
  set.add("w", zo::DType::f32, {2}, w.data());
  const auto load = [&](double t) {
    zo::Optimizer::create({.kind = zo::OptimizerKind::r_adazo})->load_state_dict(zo::StateDict::deserialize(zosd_with_t(t)), set);
  };
  expect_error([&] { load(1e300); }, {"state dict scalar 't'", "must be a whole number in [0, 2^53]"});
  expect_error([&] { load(9223372036854775808.0); }, {"scalar 't'", "[0, 2^53]"});
  EXPECT_NO_THROW(load(9007199254740992.0));
  EXPECT_NO_THROW(load(3));
  // The fuzz target's input: a parameter's own step count "w/t" = 7.1e194.
  zo::StateDict sd;
  sd.kind = "r-adazo";
  sd.scalars = {{"t", 1}, {"w/t", 7.10084e+194}};
  sd.tensors = {{"w/m", {0, 0}}, {"w/v", {0, 0}}};
  expect_error([&] { zo::Optimizer::create({.kind = zo::OptimizerKind::r_adazo})->load_state_dict(sd, set); },
               {"state dict scalar 'w/t'", "[0, 2^53]"});
}

}  // namespace
