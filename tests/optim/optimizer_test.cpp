// Optimizer behaviour beyond the formulas: refusing non-finite estimates, lazy and active-block
// state, state_dict round trips and their errors, option validation.
#include "zo/optim/optimizer.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <algorithm>
#include <cstring>

namespace zo {
namespace {

const std::vector<OptimizerKind> kKinds = {OptimizerKind::zo_sgd,     OptimizerKind::zo_sign_sgd,
                                           OptimizerKind::zo_sgd_sign, OptimizerKind::zo_rmsprop,
                                           OptimizerKind::zo_adamm,   OptimizerKind::r_adazo};

// Two tensors read in place by a quadratic loss.
struct Problem {
  std::vector<float> a = std::vector<float>(40, 1.0f);   // "block0.weight" (5, 8)
  std::vector<float> b = std::vector<float>(12, -0.5f);  // "block1.weight" (12)
  ParamSet params;
  Problem() {
    params.add("block0.weight", DType::f32, {5, 8}, a.data());
    params.add("block1.weight", DType::f32, {12}, b.data());
  }
  double loss() const {
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (1.0 + double(i % 3)) * a[i] * a[i];
    for (float v : b) s += (v - 1.0) * (v - 1.0);
    return s;
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

OptimizerOptions options_for(OptimizerKind kind) {
  OptimizerOptions o{.kind = kind, .lr = 0.01, .momentum = kind == OptimizerKind::zo_sgd ? 0.5 : 0.0};
  return o;
}

TEST(Optimizer, RefusesANonFiniteEstimateAndLeavesThetaUntouched) {
  for (OptimizerKind kind : kKinds) {
    Problem p;
    const Direction direction({}, p.params);
    auto opt = Optimizer::create(options_for(kind));
    const auto before_a = p.a;
    Estimate e;
    e.blocks = direction.active_blocks(1, 0);
    e.probes.push_back({direction.draw(p.params, e.blocks, 7), std::numeric_limits<double>::quiet_NaN()});
    EXPECT_NE(error_of([&] { opt->step(p.params, direction, e, 0.1); }).find("not finite"), std::string::npos)
        << to_string(kind);
    e.probes[0].rho = std::numeric_limits<double>::infinity();
    EXPECT_THROW(opt->step(p.params, direction, e, 0.1), Error);
    e.probes[0].rho = 1.0;
    e.finite = false;
    EXPECT_THROW(opt->step(p.params, direction, e, 0.1), Error);
    EXPECT_EQ(p.a, before_a) << to_string(kind);
    EXPECT_EQ(opt->state_bytes(), 0);
    EXPECT_EQ(opt->state_dict().scalars.at("t"), 0.0);
    e.finite = true;
    EXPECT_THROW(opt->step(p.params, direction, e, std::nan("")), Error);
    e.probes.clear();
    EXPECT_THROW(opt->step(p.params, direction, e, 0.1), Error);
  }
}

void run_steps(Optimizer& opt, Problem& p, const Direction& direction, const Estimator& est, std::int64_t from,
               std::int64_t to) {
  for (std::int64_t s = from; s < to; ++s) {
    const Estimate e = est.estimate([&] { return p.loss(); }, p.params, direction, 99, s);
    opt.step(p.params, direction, e, 0.01);
  }
}

// The 3-pass step (restore folded into the update) against the 4-pass step (restore, then update):
// float32 parameters get the same bits, for every rule, difference, probe count and direction kind.
TEST(Optimizer, RestoreFoldedIntoTheUpdateGivesTheSameBitsAsASeparatePass) {
  std::vector<DirectionOptions> directions(3);
  directions[1].distribution = Distribution::rademacher;
  directions[2].kind = DirectionKind::sparse;
  directions[2].keep = 0.3;
  for (const OptimizerKind kind : kKinds) {
    for (const Difference difference : {Difference::central, Difference::forward}) {
      for (const int queries : {1, 3}) {
        for (const DirectionOptions& d : directions) {
          Problem fused, separate;
          const Direction dir_fused(d, fused.params), dir_separate(d, separate.params);
          OptimizerOptions o = options_for(kind);
          o.weight_decay = 0.1;
          o.no_decay_pattern = "";
          auto opt_fused = Optimizer::create(o), opt_separate = Optimizer::create(o);
          const Estimator est(EstimatorOptions{.eps = 1e-2, .queries = queries, .difference = difference});
          for (std::int64_t step = 0; step < 4; ++step) {
            const Estimate a = est.estimate([&] { return fused.loss(); }, fused.params, dir_fused, 5, step, Restore::in_update);
            ASSERT_TRUE(a.restore.pending());
            EXPECT_EQ(a.restore.probe, queries - 1);
            EXPECT_EQ(a.restore.alpha, difference == Difference::central ? 1e-2f : -1e-2f);
            opt_fused->step(fused.params, dir_fused, a, 0.05);
            const Estimate b = est.estimate([&] { return separate.loss(); }, separate.params, dir_separate, 5, step);
            ASSERT_FALSE(b.restore.pending());
            opt_separate->step(separate.params, dir_separate, b, 0.05);
          }
          const std::string label = fmt::format("{} {} q={} {}/{}", to_string(kind), to_string(difference), queries,
                                                to_string(d.kind), to_string(d.distribution));
          ASSERT_EQ(0, std::memcmp(fused.a.data(), separate.a.data(), fused.a.size() * sizeof(float))) << label;
          ASSERT_EQ(0, std::memcmp(fused.b.data(), separate.b.data(), fused.b.size() * sizeof(float))) << label;
          EXPECT_NE(fused.a, Problem().a) << label;
        }
      }
    }
  }
}

TEST(Optimizer, ARefusedStepStillAppliesThePendingRestore) {
  Problem p;
  const Direction direction({}, p.params);
  auto opt = Optimizer::create(options_for(OptimizerKind::zo_adamm));
  const Estimator est(EstimatorOptions{.eps = 1e-2});
  const std::vector<float> a0 = p.a, b0 = p.b;
  Estimate e = est.estimate([&] { return p.loss(); }, p.params, direction, 9, 0, Restore::in_update);
  ASSERT_TRUE(e.restore.pending());
  EXPECT_NE(p.a, a0);  // θ − εz until the update
  const std::string message = error_of([&] { opt->step(p.params, direction, e, std::nan("")); });
  EXPECT_NE(message.find("lr = nan"), std::string::npos) << message;
  // Back within the rounding of the ±ε sequence, as a 4-pass estimate leaves it.
  for (std::size_t i = 0; i < a0.size(); ++i) EXPECT_NEAR(p.a[i], a0[i], 1e-6f);
  for (std::size_t i = 0; i < b0.size(); ++i) EXPECT_NEAR(p.b[i], b0[i], 1e-6f);
  EXPECT_EQ(opt->state_bytes(), 0);
}

TEST(Optimizer, StateSlotsNameTheTensorsOfEachRulesStateDict) {
  using Slots = std::vector<std::string>;
  const std::vector<std::pair<OptimizerOptions, Slots>> cases = {
      {{.kind = OptimizerKind::zo_sgd}, {}},
      {{.kind = OptimizerKind::zo_sgd, .momentum = 0.9}, {"momentum"}},
      {{.kind = OptimizerKind::zo_sign_sgd}, {}},
      {{.kind = OptimizerKind::zo_sgd_sign}, {}},
      {{.kind = OptimizerKind::zo_rmsprop}, {"v"}},
      {{.kind = OptimizerKind::zo_adamm}, {"m", "v", "vhat"}},
      {{.kind = OptimizerKind::zo_adamm, .amsgrad = false}, {"m", "v"}},
      {{.kind = OptimizerKind::r_adazo}, {"m", "v"}},
  };
  for (auto [options, expected] : cases) {
    options.lr = 0.01;
    const std::string rule(to_string(options.kind));
    EXPECT_EQ(state_slots(options), expected) << rule;
    // After a step over both blocks, the state dict holds "<param>/<slot>" for each param and slot.
    Problem p;
    const Direction direction(DirectionOptions{}, p.params);
    const Estimator est(EstimatorOptions{});
    auto opt = Optimizer::create(options);
    run_steps(*opt, p, direction, est, 0, 1);
    std::vector<std::string> keys;
    for (const auto& [key, values] : opt->state_dict().tensors) keys.push_back(key);
    std::vector<std::string> want;
    for (const char* param : {"block0.weight", "block1.weight"}) {
      for (const std::string& slot : expected) want.push_back(std::string(param) + "/" + slot);
    }
    std::sort(want.begin(), want.end());
    EXPECT_EQ(keys, want) << rule;
  }
}

TEST(Optimizer, StateIsAllocatedLazilyForTheParamsThatMoved) {
  Problem p;
  const Direction direction(DirectionOptions{.order = BlockOrder::cyclic}, p.params);
  const Estimator est(EstimatorOptions{});
  auto opt = Optimizer::create({.kind = OptimizerKind::r_adazo, .lr = 0.01});
  EXPECT_EQ(opt->state_bytes(), 0);
  run_steps(*opt, p, direction, est, 0, 1);  // block 0
  EXPECT_EQ(opt->state_bytes(), 40 * 2 * 4);
  run_steps(*opt, p, direction, est, 1, 2);  // block 1
  EXPECT_EQ(opt->state_bytes(), (40 + 12) * 2 * 4);
}

TEST(Optimizer, ActiveBlockScopeKeepsOnlyTheCurrentBlocksState) {
  Problem p;
  const Direction direction(DirectionOptions{.order = BlockOrder::cyclic}, p.params);
  const Estimator est(EstimatorOptions{});
  auto opt = Optimizer::create({.kind = OptimizerKind::zo_adamm, .lr = 0.01, .state = StateScope::active_block});
  run_steps(*opt, p, direction, est, 0, 1);
  EXPECT_EQ(opt->state_bytes(), 40 * 3 * 4);  // m, v, vhat of block0
  run_steps(*opt, p, direction, est, 1, 2);
  EXPECT_EQ(opt->state_bytes(), 12 * 3 * 4);  // block0's state freed
  const StateDict sd = opt->state_dict();
  EXPECT_EQ(sd.tensors.count("block0.weight/m"), 0u);
  EXPECT_EQ(sd.tensors.count("block1.weight/m"), 1u);
  run_steps(*opt, p, direction, est, 2, 3);  // back to block 0: fresh state, t restarts
  EXPECT_EQ(opt->state_dict().scalars.at("block0.weight/t"), 1.0);
}

class RoundTrip : public ::testing::TestWithParam<OptimizerKind> {};

TEST_P(RoundTrip, ResumingFromASerializedStateDictIsBitIdenticalToAnUninterruptedRun) {
  const OptimizerKind kind = GetParam();
  OptimizerOptions o = options_for(kind);
  o.bias_correction = kind == OptimizerKind::zo_adamm;
  const DirectionOptions dir{.order = BlockOrder::permutation};
  const Estimator est(EstimatorOptions{.eps = 1e-2, .queries = 2});

  Problem whole;
  const Direction dw(dir, whole.params);
  auto uninterrupted = Optimizer::create(o);
  run_steps(*uninterrupted, whole, dw, est, 0, 10);

  Problem first;
  const Direction df(dir, first.params);
  auto before = Optimizer::create(o);
  run_steps(*before, first, df, est, 0, 5);
  const std::string bytes = before->state_dict().serialize();

  Problem second;  // a fresh process: new storage, θ copied from the checkpoint
  second.a = first.a;
  second.b = first.b;
  const Direction ds(dir, second.params);
  auto after = Optimizer::create(o);
  after->load_state_dict(StateDict::deserialize(bytes), second.params);
  EXPECT_EQ(after->state_bytes(), before->state_bytes());
  run_steps(*after, second, ds, est, 5, 10);

  EXPECT_EQ(second.a, whole.a);
  EXPECT_EQ(second.b, whole.b);
  const StateDict x = after->state_dict(), y = uninterrupted->state_dict();
  EXPECT_EQ(x.scalars, y.scalars);
  EXPECT_EQ(x.tensors, y.tensors);
  EXPECT_LT(whole.loss(), Problem().loss());
}

INSTANTIATE_TEST_SUITE_P(AllRules, RoundTrip, ::testing::ValuesIn(kKinds),
                         [](const auto& info) {
                           std::string s(to_string(info.param));
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

StateDict trained_adamm(Problem& p) {
  const Direction direction({}, p.params);
  auto opt = Optimizer::create({.kind = OptimizerKind::zo_adamm});
  run_steps(*opt, p, direction, Estimator({}), 0, 2);
  return opt->state_dict();
}

TEST(StateDictLoad, ErrorsNameTheTensorAndLeaveTheStateAlone) {
  Problem p;
  const StateDict good = trained_adamm(p);
  auto opt = Optimizer::create({.kind = OptimizerKind::zo_adamm});
  opt->load_state_dict(good, p.params);
  const std::int64_t bytes = opt->state_bytes();

  StateDict unknown = good;
  unknown.tensors["decoder.weight/m"] = std::vector<float>(3);
  std::string msg = error_of([&] { opt->load_state_dict(unknown, p.params); });
  EXPECT_NE(msg.find("decoder.weight/m"), std::string::npos) << msg;

  StateDict resized = good;
  resized.tensors["block1.weight/v"].resize(11);
  msg = error_of([&] { opt->load_state_dict(resized, p.params); });
  EXPECT_NE(msg.find("block1.weight/v"), std::string::npos) << msg;
  EXPECT_NE(msg.find("11"), std::string::npos) << msg;
  EXPECT_NE(msg.find("12"), std::string::npos) << msg;

  StateDict missing = good;
  missing.tensors.erase("block0.weight/vhat");
  msg = error_of([&] { opt->load_state_dict(missing, p.params); });
  EXPECT_NE(msg.find("block0.weight/vhat"), std::string::npos) << msg;

  StateDict bad_slot = good;
  bad_slot.tensors["block0.weight/momentum"] = std::vector<float>(40);
  msg = error_of([&] { opt->load_state_dict(bad_slot, p.params); });
  EXPECT_NE(msg.find("block0.weight/momentum"), std::string::npos) << msg;

  StateDict no_t = good;
  no_t.scalars.erase("t");
  EXPECT_NE(error_of([&] { opt->load_state_dict(no_t, p.params); }).find("'t'"), std::string::npos);

  StateDict other_kind = good;
  other_kind.kind = "r-adazo";
  msg = error_of([&] { opt->load_state_dict(other_kind, p.params); });
  EXPECT_NE(msg.find("r-adazo"), std::string::npos) << msg;
  EXPECT_NE(msg.find("zo-adamm"), std::string::npos) << msg;

  EXPECT_EQ(opt->state_bytes(), bytes);  // failed loads changed nothing
  EXPECT_EQ(opt->state_dict().tensors, good.tensors);
}

TEST(StateDictBytes, RoundTripsExactly) {
  StateDict sd;
  sd.kind = "r-adazo";
  sd.scalars = {{"t", 12}, {"x/t", 7}};
  sd.tensors = {{"x/m", {1.5f, -2.0f, std::numeric_limits<float>::denorm_min()}}, {"x/v", {}}};
  const StateDict back = StateDict::deserialize(sd.serialize());
  EXPECT_EQ(back.kind, sd.kind);
  EXPECT_EQ(back.scalars, sd.scalars);
  EXPECT_EQ(back.tensors, sd.tensors);
  EXPECT_EQ(sd.serialize().substr(0, 4), "ZOSD");
}

TEST(StateDictBytes, EveryTruncationIsAClearError) {
  Problem p;
  const std::string bytes = trained_adamm(p).serialize();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::string msg = error_of([&] { StateDict::deserialize(std::string_view(bytes).substr(0, n)); });
    ASSERT_FALSE(msg.empty()) << "prefix of " << n << " bytes was accepted";
    ASSERT_NE(msg.find("state dict"), std::string::npos) << msg;
  }
}

TEST(StateDictBytes, BadMagicVersionCountsAndTrailingBytesAreErrors) {
  Problem p;
  const std::string bytes = trained_adamm(p).serialize();
  std::string magic = bytes;
  magic[0] = 'X';
  EXPECT_NE(error_of([&] { StateDict::deserialize(magic); }).find("magic"), std::string::npos);
  std::string version = bytes;
  version[4] = 9;
  EXPECT_NE(error_of([&] { StateDict::deserialize(version); }).find("version 9"), std::string::npos);
  EXPECT_NE(error_of([&] { StateDict::deserialize(bytes + "x"); }).find("unexpected bytes"), std::string::npos);
  // A huge tensor length must fail without trying to allocate it.
  StateDict one;
  one.kind = "zo-sgd";
  one.tensors["x/momentum"] = {1.0f};
  std::string huge = one.serialize();
  const std::size_t at = huge.size() - sizeof(float) - sizeof(std::uint64_t);
  const std::uint64_t big = std::uint64_t(1) << 60;
  std::memcpy(huge.data() + at, &big, sizeof big);
  EXPECT_NE(error_of([&] { StateDict::deserialize(huge); }).find("truncated"), std::string::npos);
}

TEST(OptimizerOptions, InvalidValuesAreErrorsNamingTheField) {
  const auto msg = [](OptimizerOptions o) { return error_of([&] { Optimizer::create(o); }); };
  EXPECT_NE(msg({.lr = 0}).find("lr = 0"), std::string::npos);
  EXPECT_NE(msg({.lr = std::nan("")}).find("lr"), std::string::npos);
  EXPECT_NE(msg({.momentum = 1.0}).find("momentum = 1"), std::string::npos);
  EXPECT_NE(msg({.weight_decay = -0.1}).find("weight_decay = -0.1"), std::string::npos);
  EXPECT_NE(msg({.beta1 = -0.1}).find("beta1"), std::string::npos);
  EXPECT_NE(msg({.beta2 = 1.0}).find("beta2 = 1"), std::string::npos);
  EXPECT_NE(msg({.zeta = 0.0}).find("zeta = 0"), std::string::npos);
  EXPECT_NE(msg({.no_decay_pattern = "bias("}).find("no_decay_pattern"), std::string::npos);
  EXPECT_NE(msg({.groups = {{.pattern = "["}}}).find("groups[0].pattern"), std::string::npos);
  EXPECT_NE(msg({.groups = {{.pattern = "x", .lr_scale = -1}}}).find("groups[0].lr_scale = -1"), std::string::npos);
  EXPECT_NE(msg({.groups = {{.pattern = "x"}, {.pattern = "y", .weight_decay = -2.0}}}).find("groups[1].weight_decay"),
            std::string::npos);
  EXPECT_EQ(msg({}), "");
}

TEST(OptimizerNames, RoundTripAndUnknownNamesListTheValidOnes) {
  for (OptimizerKind kind : kKinds) EXPECT_EQ(optimizer_kind_from_string(to_string(kind)), kind);
  const std::string m = error_of([] { optimizer_kind_from_string("adam"); });
  EXPECT_NE(m.find("'adam'"), std::string::npos);
  EXPECT_NE(m.find("r-adazo"), std::string::npos);
  EXPECT_EQ(state_scope_from_string("active-block"), StateScope::active_block);
  EXPECT_EQ(state_scope_from_string(to_string(StateScope::all)), StateScope::all);
  EXPECT_THROW(state_scope_from_string("active_block"), Error);
}

}  // namespace
}  // namespace zo
