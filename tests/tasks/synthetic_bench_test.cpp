// zo::tasks::bench_synthetic as a library call: the runs, the reports it writes and returns, and its
// options declared once. (Through the zo command: tests/apps/bench_synthetic_test.cpp.)
#include "zo/tasks/synthetic_bench.hpp"

#include "zo/util/files.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace {

namespace fs = std::filesystem;

TEST(SyntheticBench, ALibraryCallRunsEveryOptimizerAndLrAndWritesItsReports) {
  const fs::path dir = zo::test::fresh_dir("zo_synthetic_bench_");
  zo::tasks::SyntheticBenchOptions o;
  o.function = "quadratic";
  o.dim = 20;
  o.condition = 10;
  o.steps = 40;
  o.optimizers = {"zo-sgd", "r-adazo"};
  o.lr_grid = {1e-3, 1e-2};
  o.threads = 1;
  o.out = (dir / "out").string();
  std::int64_t last_done = -1, total = 0;
  const auto r = zo::tasks::bench_synthetic(o, {.progress = [&](std::int64_t d, std::int64_t t, const std::string&) {
                                                  EXPECT_GE(d, last_done);
                                                  last_done = d;
                                                  total = t;
                                                },
                                                .provenance = {{"who", "test"}}});
  ASSERT_EQ(r.runs.size(), 4u);
  EXPECT_EQ(total, 4 * 40);
  EXPECT_EQ(last_done, total);
  for (const auto& run : r.runs) {
    EXPECT_EQ(run.summary.steps, 40);
    EXPECT_LT(run.final_loss, run.initial_loss);
    EXPECT_EQ(run.curve.front().step, 0);
    EXPECT_EQ(run.curve.back().step, 40);
  }
  for (const auto& f : r.files) EXPECT_TRUE(fs::exists(f)) << f;
  EXPECT_EQ(nlohmann::json::parse(zo::read_file(dir / "out" / "summary.json")), r.summary);
  EXPECT_EQ(r.summary["who"], "test");
  EXPECT_EQ(zo::read_file(dir / "out" / "table.md"), r.tables);
  fs::remove_all(dir);
}

TEST(SyntheticBench, OptionsAreDeclaredOnceAndValidateNamesThem) {
  std::set<std::string> names;
  const zo::tasks::SyntheticBenchOptions defaults;
  zo::tasks::SyntheticBenchOptions o;
  for (const auto& s : zo::tasks::synthetic_bench_option_list().specs()) {
    EXPECT_TRUE(names.insert(s.name).second) << s.name;
    if (!s.get(defaults).empty()) s.set(o, s.get(defaults));
    EXPECT_EQ(s.get(o), s.get(defaults)) << s.name;
  }
  EXPECT_EQ(names.size(), 21u);
  EXPECT_NO_THROW(defaults.validate());
  const auto expect = [&](auto change, std::vector<std::string> parts) {
    zo::tasks::SyntheticBenchOptions bad;
    change(bad);
    zo::test::expect_error([&] { bad.validate(); }, parts);
  };
  expect([](auto& b) { b.dim = 0; }, {"option 'dim' = 0"});
  expect([](auto& b) { b.optimizers = {"zo-sgd", "zo-sgd"}; }, {"option 'optimizer'", "listed twice"});
  expect([](auto& b) { b.lr = 0.1, b.lr_grid = {0.1}; }, {"option 'lr'", "option 'lr-grid'", "exclude"});
  expect([](auto& b) { b.lr_grid = {0.1, -1}; }, {"option 'lr-grid'", "-1"});
  expect([](auto& b) { b.baseline = "zo-rmsprop"; }, {"option 'baseline' = 'zo-rmsprop'"});
  expect([](auto& b) { b.direction = "cauchy"; }, {"option 'direction' = 'cauchy'"});
}

}  // namespace
