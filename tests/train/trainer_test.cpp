// The trainer on a small least-squares objective: exact resume after an interruption, replay from
// the ledger, NaN policies, and the files a run leaves.
#include "zo/train/trainer.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"
#include "zo/train/checkpoint.hpp"
#include "zo/train/ledger.hpp"
#include "zo/train/replay.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using zo::test::TempDir;
using zo::test::slurp;

struct Interrupted {};

// loss = mean over the batch of (w0·x + w1·x − y)², data drawn from Philox.
class LeastSquares : public zo::TrainObjective {
 public:
  static constexpr int D = 16, N = 24;
  std::vector<float> w0 = std::vector<float>(D, 0.0f), w1 = std::vector<float>(D, 0.0f);
  std::vector<float> x = std::vector<float>(N * D);
  std::vector<float> y = std::vector<float>(N);
  std::int64_t calls = 0;
  std::int64_t interrupt_at = -1;  // throw Interrupted at this loss call
  std::int64_t nan_at = -1;        // return NaN at this loss call
  zo::ParamSet set;

  LeastSquares() {
    zo::fill_normal({.seed = 5, .tensor = 1, .stream = zo::Stream::value}, 0, N * D, x.data());
    zo::fill_normal({.seed = 5, .tensor = 2, .stream = zo::Stream::value}, 0, N, y.data());
    set.add("layers.0.w", zo::DType::f32, {D}, w0.data());
    set.add("layers.1.w", zo::DType::f32, {D}, w1.data());
  }
  zo::ParamSet& params() override { return set; }
  std::size_t train_size() const override { return N; }
  double loss(std::span<const std::size_t> batch) override {
    if (calls == interrupt_at) throw Interrupted{};
    if (calls++ == nan_at) return std::numeric_limits<double>::quiet_NaN();
    double sum = 0;
    for (std::size_t i : batch) {
      double p = 0;
      for (int d = 0; d < D; ++d) p += double(w0[d] + w1[d]) * x[i * D + d];
      sum += (p - y[i]) * (p - y[i]);
    }
    return sum / double(batch.size());
  }
  zo::Evaluation evaluate() override {
    std::vector<std::size_t> all(N);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    const std::int64_t saved = calls;
    const double l = loss(all);
    calls = saved;  // evaluation does not count against the interrupt/NaN schedule
    return {.loss = l, .accuracy = 0.5, .examples = N};
  }
  std::string bytes() const {
    std::string s(reinterpret_cast<const char*>(w0.data()), D * 4);
    s.append(reinterpret_cast<const char*>(w1.data()), D * 4);
    return s;
  }
};

zo::TrainerOptions options(const fs::path& out, zo::OptimizerKind kind, zo::BlockOrder order) {
  zo::TrainerOptions o;
  o.steps = 30;
  o.batch_size = 5;
  o.seed = 11;
  o.direction.order = order;
  o.estimator.eps = 1e-3;
  o.optimizer.kind = kind;
  o.optimizer.lr = kind == zo::OptimizerKind::zo_sgd ? 0.01 : 0.003;
  o.eval_every = 7;
  o.checkpoint_every = 8;
  o.ledger_fsync_every = 1000;  // fsync is slow on this machine's shared disk; durability has its own tests
  o.out_dir = out;
  return o;
}

struct Case {
  zo::OptimizerKind kind;
  zo::BlockOrder order;
};

class TrainerResume : public ::testing::TestWithParam<Case> {};

TEST_P(TrainerResume, AnInterruptedRunResumedEndsBitIdenticalAndReplaysFromTheLedger) {
  TempDir dir;
  const auto [kind, order] = GetParam();
  LeastSquares clean;
  clean.set.block_by_pattern("layers\\.(\\d+)\\.");
  const auto base = clean.bytes();
  const auto summary = zo::Trainer(clean, options(dir.path / "clean", kind, order)).run();
  EXPECT_EQ(summary.steps, 30);
  EXPECT_NE(clean.bytes(), base);  // θ moved: the identities below are not trivial

  LeastSquares broken;
  broken.set.block_by_pattern("layers\\.(\\d+)\\.");
  broken.interrupt_at = 2 * 19 + 1;  // inside step 19: after the checkpoint at 16
  EXPECT_THROW(zo::Trainer(broken, options(dir.path / "broken", kind, order)).run(), Interrupted);
  LeastSquares resumed;  // a fresh process: base θ, then the checkpoint
  resumed.set.block_by_pattern("layers\\.(\\d+)\\.");
  auto o = options(dir.path / "broken", kind, order);
  o.resume = true;
  const auto second = zo::Trainer(resumed, o).run();
  EXPECT_EQ(second.start_step, 16);
  EXPECT_EQ(resumed.bytes(), clean.bytes());
  EXPECT_EQ(slurp(dir.path / "broken" / "ledger.tsv"), slurp(dir.path / "clean" / "ledger.tsv"));
  EXPECT_EQ(slurp(dir.path / "broken" / "train_log.csv").size() > 0, true);

  // Replay from the base values and the ledger alone.
  LeastSquares replayed;
  replayed.set.block_by_pattern("layers\\.(\\d+)\\.");
  ASSERT_EQ(replayed.bytes(), base);
  const auto ledger = zo::read_ledger(dir.path / "clean" / "ledger.tsv");
  const auto r = zo::replay_ledger(ledger, replayed.set, "ledger.tsv");
  EXPECT_EQ(r.steps, 30);
  EXPECT_EQ(replayed.bytes(), clean.bytes());
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainerResume,
                         ::testing::Values(Case{zo::OptimizerKind::zo_sgd, zo::BlockOrder::all},
                                           Case{zo::OptimizerKind::zo_sgd, zo::BlockOrder::permutation},
                                           Case{zo::OptimizerKind::zo_adamm, zo::BlockOrder::all},
                                           Case{zo::OptimizerKind::r_adazo, zo::BlockOrder::cyclic}));

TEST(Trainer, LogsHaveOneRowPerStepAndEvaluationsAtTheScheduledSteps) {
  TempDir dir;
  LeastSquares obj;
  zo::Trainer(obj, options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all)).run();
  const std::string train = slurp(dir.path / "train_log.csv");
  EXPECT_TRUE(train.starts_with("step,loss,lr,skipped,evaluations,seconds\n1,"));
  EXPECT_EQ(std::count(train.begin(), train.end(), '\n'), 31);
  const std::string eval = slurp(dir.path / "eval_log.csv");
  std::vector<std::string> steps;
  std::istringstream in(eval);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) steps.push_back(line.substr(0, line.find(',')));
  EXPECT_EQ(steps, (std::vector<std::string>{"0", "7", "14", "21", "28", "30"}));
  EXPECT_EQ(zo::latest_checkpoint(dir.path / "checkpoints"), dir.path / "checkpoints" / "step-00000030");
}

TEST(Trainer, RefusesToOverwriteARunWithoutResumeAndRejectsOtherOptionsOnResume) {
  TempDir dir;
  LeastSquares a;
  auto o = options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all);
  o.steps = 4;
  zo::Trainer(a, o).run();
  LeastSquares b;
  EXPECT_THROW(zo::Trainer(b, o).run(), zo::Error);
  o.resume = true;
  o.optimizer.lr = 0.5;
  LeastSquares c;
  EXPECT_THROW(zo::Trainer(c, o).run(), zo::Error);
}

TEST(Trainer, NanLossUnderStopEndsTheRunWithFiniteThetaAndAGoodCheckpoint) {
  TempDir dir;
  LeastSquares obj;
  obj.nan_at = 2 * 9 + 1;  // f₋ of step 9
  auto o = options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all);
  const auto s = zo::Trainer(obj, o).run();
  EXPECT_EQ(s.termination, zo::Termination::non_finite_loss);
  EXPECT_EQ(s.steps, 9);
  for (float v : obj.w0) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(zo::latest_checkpoint(dir.path / "checkpoints"), dir.path / "checkpoints" / "step-00000009");
  EXPECT_EQ(zo::read_ledger(dir.path / "ledger.tsv").rows.size(), 9u);
}

TEST(Trainer, NanLossUnderSkipSkipsTheUpdateAndTheLedgerReplaysIt) {
  TempDir dir;
  LeastSquares obj;
  obj.nan_at = 2 * 9;  // f₊ of step 9
  auto o = options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all);
  o.nan_policy = zo::NanPolicy::skip;
  const auto s = zo::Trainer(obj, o).run();
  EXPECT_EQ(s.termination, zo::Termination::max_steps);
  EXPECT_EQ(s.skipped_steps, 1);
  const auto ledger = zo::read_ledger(dir.path / "ledger.tsv");
  EXPECT_TRUE(ledger.rows[9].skipped);
  LeastSquares replayed;
  zo::replay_ledger(ledger, replayed.set, "ledger");
  EXPECT_EQ(replayed.bytes(), obj.bytes());
}

TEST(Replay, OtherParametersOrATamperedRowAreErrors) {
  TempDir dir;
  LeastSquares obj;
  auto o = options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all);
  o.steps = 5;
  zo::Trainer(obj, o).run();
  auto ledger = zo::read_ledger(dir.path / "ledger.tsv");
  LeastSquares other;
  other.set.block_by_pattern("layers\\.(\\d+)\\.");  // a different block partition
  EXPECT_THROW(zo::replay_ledger(ledger, other.set, "l"), zo::Error);
  ledger.rows[2].losses[0] += 1.0;
  LeastSquares fresh;
  try {
    zo::replay_ledger(ledger, fresh.set, "l");
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("l:5: probe 0: ρ recomputed"), std::string::npos) << e.what();
  }
}

TEST(Replay, ARunOfAnotherZStreamVersionIsRefusedOnReplayAndResume) {
  TempDir dir;
  LeastSquares obj;
  auto o = options(dir.path, zo::OptimizerKind::zo_sgd, zo::BlockOrder::all);
  o.steps = 4;
  zo::Trainer(obj, o).run();
  const fs::path ledger_path = dir.path / "ledger.tsv";
  auto ledger = zo::read_ledger(ledger_path);
  EXPECT_EQ(ledger.config.at("z_stream"), zo::kZStreamVersion);
  const std::string versions = fmt::format("z-stream version 1, but this zo draws version {}", zo::kZStreamVersion);
  for (const bool drop : {false, true}) {
    // A ledger without the field was written under version 1.
    if (drop) {
      ledger.config.erase("z_stream");
    } else {
      ledger.config["z_stream"] = 1;
    }
    LeastSquares fresh;
    const auto before = fresh.bytes();
    try {
      zo::replay_ledger(ledger, fresh.set, ledger_path.string());
      FAIL();
    } catch (const zo::Error& e) {
      EXPECT_NE(std::string(e.what()).find(ledger_path.string() + ": recorded with " + versions), std::string::npos) << e.what();
    }
    EXPECT_EQ(fresh.bytes(), before);  // refused before any step
  }
  // Resume: the run folder's ledger says version 1.
  std::string text;
  {
    std::ifstream in(ledger_path);
    std::stringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  const std::string field = fmt::format("\"z_stream\":{}", zo::kZStreamVersion);
  const auto at = text.find(field);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, field.size(), "\"z_stream\":1");
  std::ofstream(ledger_path, std::ios::trunc) << text;
  o.resume = true;
  LeastSquares resumed;
  try {
    zo::Trainer(resumed, o).run();
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(ledger_path.string() + ": recorded with " + versions), std::string::npos) << e.what();
  }
  // The writer refuses it too.
  try {
    zo::LedgerWriter::resume(ledger_path, zo::read_ledger(ledger_path).config, 4);
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(versions), std::string::npos) << e.what();
  }
}

}  // namespace
