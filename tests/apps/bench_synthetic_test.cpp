// `zo bench synthetic` end to end: runs the built binary with small settings and checks what it
// writes (CSV header and rows, JSON keys, PNG header) and how it fails on bad input.
#include "../test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zo::test::slurp;

struct Result {
  int status = -1;
  std::string out, err;
};

class BenchSynthetic : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(fs::path(ZO_BINARY_DIR) / "zo")) << ZO_BINARY_DIR "/zo is missing: build the zo target first";
    dir_ = fs::temp_directory_path() /
           ("zo_bench_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // Runs `zo <args>` with stdout and stderr captured to files.
  Result zo(const std::string& args) {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    std::string cmd = std::string("'") + ZO_BINARY_DIR + "/zo' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    int raw = std::system(cmd.c_str());
    Result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  // Expects a non-zero exit whose stderr names every string in `names`.
  void expect_failure(const std::string& args, const std::vector<std::string>& names) {
    Result r = zo("bench synthetic " + args + " --out '" + (dir_ / "o").string() + "'");
    EXPECT_NE(r.status, 0) << args;
    EXPECT_NE(r.status, -1) << args << ": did not exit normally (crash?)";
    for (const auto& n : names) EXPECT_NE(r.err.find(n), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.find("terminate called"), std::string::npos) << r.err;
  }

  fs::path dir_;
};

std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

// ½ Σ_i c_i with c_i = κ^(i/(d−1)): the quadratic's value at its start point x0 = 1 (geometric sum).
double quadratic_at_ones(int d, double kappa) {
  double r = std::pow(kappa, 1.0 / (d - 1));
  return 0.5 * (std::pow(r, d) - 1.0) / (r - 1.0);
}

TEST_F(BenchSynthetic, WritesCurvesSummaryPlotAndTable) {
  const fs::path out = dir_ / "run";
  Result r = zo("bench synthetic --function quadratic --dim 50 --optimizer zo-sgd,r-adazo --steps 30 "
                "--lr-grid 0.01,0.001 --log-every 10 --diverge-factor 0 --threads 2 --seed 7 --out '" + out.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;

  auto csv = read_csv(out / "curves.csv");
  ASSERT_FALSE(csv.empty());
  EXPECT_EQ(csv[0], (std::vector<std::string>{"optimizer", "lr", "step", "queries", "loss"}));
  // 2 optimizers × 2 η × (steps 0, 10, 20, 30).
  EXPECT_EQ(csv.size(), 1u + 2 * 2 * 4);
  const double f0 = quadratic_at_ones(50, 1e3);
  for (std::size_t i = 1; i < csv.size(); ++i) {
    ASSERT_EQ(csv[i].size(), 5u);
    long step = std::stol(csv[i][2]), queries = std::stol(csv[i][3]);
    EXPECT_EQ(queries, step == 0 ? 0 : 1 + 2 * step) << "f(x0) plus two queries a central step";
    if (step == 0) {
      EXPECT_NEAR(std::stod(csv[i][4]), f0, 1e-9 * f0);
    }
  }

  nlohmann::json j = nlohmann::json::parse(slurp(out / "summary.json"));
  for (const char* key : {"command", "git_commit", "config", "runs", "best", "equal_lr", "date_utc"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["config"]["function"], "quadratic");
  EXPECT_EQ(j["config"]["dim"], 50);
  EXPECT_NE(j["command"].get<std::string>().find("--dim 50"), std::string::npos);
  ASSERT_EQ(j["runs"].size(), 4u);
  for (const auto& run : j["runs"]) {
    for (const char* key : {"optimizer", "lr", "final_loss", "steps", "queries", "seconds", "termination"})
      EXPECT_TRUE(run.contains(key)) << key;
    EXPECT_EQ(run["steps"], 30);
    EXPECT_EQ(run["queries"], 1 + 2 * 30 + 1);  // f(x0), the steps, f(x_final)
    EXPECT_EQ(run["termination"], "max_steps");
  }
  ASSERT_TRUE(j["best"].contains("zo-sgd"));
  ASSERT_TRUE(j["best"].contains("r-adazo"));
  for (const auto& [name, best] : j["best"].items()) {
    double lr = best["lr"];
    EXPECT_TRUE(lr == 0.01 || lr == 0.001) << name;
    EXPECT_EQ(best["at_grid_edge"], true) << "a two-point grid has only edges";
    // The best η's final loss is the smaller of that optimizer's two runs.
    double smallest = INFINITY;
    for (const auto& run : j["runs"])
      if (run["optimizer"] == name) smallest = std::min(smallest, run["final_loss"].get<double>());
    EXPECT_EQ(best["final_loss"].get<double>(), smallest);
  }
  EXPECT_EQ(j["equal_lr"].size(), 2u);

  std::string png = slurp(out / "curves.png");
  ASSERT_GT(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");

  EXPECT_NE(slurp(out / "table.md").find("| η | zo-sgd | r-adazo |"), std::string::npos);
  EXPECT_NE(r.out.find("Best η per optimizer"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("steps"), std::string::npos) << "progress goes to stderr: " << r.err;
}

TEST_F(BenchSynthetic, SameSeedGivesIdenticalCurvesAndNoiseDoesNotReachTheLog) {
  auto run = [&](const std::string& name, const std::string& extra) {
    Result r = zo("bench synthetic --function ackley --dim 40 --optimizer zo-adamm --steps 20 --lr 0.01 --threads 1 " +
                  extra + " --out '" + (dir_ / name).string() + "'");
    EXPECT_EQ(r.status, 0) << r.err;
    return read_csv(dir_ / name / "curves.csv");
  };
  auto a = run("a", "--seed 3"), b = run("b", "--seed 3"), c = run("c", "--seed 4"), noisy = run("n", "--seed 3 --noise 5");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_GT(noisy.size(), 1u);
  EXPECT_EQ(noisy[1][4], a[1][4]) << "the step-0 loss is the noiseless f(x0)";
  EXPECT_NE(noisy.back()[4], a.back()[4]) << "noise changes the path";
}

TEST_F(BenchSynthetic, NanPolicyStopEndsTheRunAndSkipCarriesOn) {
  // An η this large sends the first step past float range: the next losses are NaN.
  const std::string common = "bench synthetic --function rosenbrock --dim 20 --optimizer zo-sgd --steps 40 --lr 1e38 "
                             "--diverge-factor 0 --threads 1 ";
  Result stop = zo(common + "--nan-policy stop --out '" + (dir_ / "stop").string() + "'");
  ASSERT_EQ(stop.status, 0) << stop.err;
  auto js = nlohmann::json::parse(slurp(dir_ / "stop" / "summary.json"));
  EXPECT_EQ(js["runs"][0]["termination"], "non_finite_loss");
  EXPECT_LT(js["runs"][0]["steps"].get<int>(), 40);

  Result skip = zo(common + "--nan-policy skip --out '" + (dir_ / "skip").string() + "'");
  ASSERT_EQ(skip.status, 0) << skip.err;
  auto jk = nlohmann::json::parse(slurp(dir_ / "skip" / "summary.json"));
  EXPECT_EQ(jk["runs"][0]["termination"], "max_steps");
  EXPECT_EQ(jk["runs"][0]["steps"], 40);
  EXPECT_GT(jk["runs"][0]["skipped_steps"].get<int>(), 0);
}

TEST_F(BenchSynthetic, DivergingRunsStopEarlyAndAreNeverTheBest) {
  // ZO-SGD at η = 0.1 on a quadratic with curvature up to 1000 grows by orders of magnitude a step.
  Result r = zo("bench synthetic --function quadratic --dim 30 --optimizer zo-sgd --steps 200 --lr-grid 1e-6,0.1 "
                "--log-every 1 --threads 1 --out '" + (dir_ / "d").string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(slurp(dir_ / "d" / "summary.json"));
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    if (run["lr"] == 0.1) {
      EXPECT_EQ(run["termination"], "diverged");
      EXPECT_LT(run["steps"].get<int>(), 200);
      EXPECT_GT(run["final_loss"].get<double>(), 1e4 * run["initial_loss"].get<double>());
    } else {
      EXPECT_EQ(run["termination"], "max_steps");
    }
  }
  EXPECT_EQ(j["best"]["zo-sgd"]["lr"], 1e-6);
  EXPECT_NE(r.out.find("diverged (step"), std::string::npos) << r.out;
}

TEST_F(BenchSynthetic, BadInputsFailNamingTheOptionAndValue) {
  expect_failure("--dim 0", {"--dim", "0"});
  expect_failure("--function rosenbrock --dim 1", {"--dim", "1"});
  expect_failure("--steps -1", {"--steps", "-1"});
  expect_failure("--lr nan", {"--lr", "nan"});
  expect_failure("--lr -0.5", {"--lr", "-0.5"});
  expect_failure("--lr-grid 0.1,abc", {"--lr-grid", "abc"});
  expect_failure("--lr-grid 0.1,,0.2", {"--lr-grid"});
  expect_failure("--lr 0.1 --lr-grid 0.1,0.2", {"--lr", "--lr-grid"});
  expect_failure("--optimizer zo-sgd,adam", {"--optimizer", "adam"});
  expect_failure("--optimizer zo-sgd,zo-sgd", {"--optimizer", "zo-sgd"});
  expect_failure("--function sphere", {"--function", "sphere"});
  expect_failure("--direction cauchy", {"--direction", "cauchy"});
  expect_failure("--nan-policy maybe", {"--nan-policy", "maybe"});
  expect_failure("--queries 0", {"--queries", "0"});
  expect_failure("--eps 0", {"--eps", "0"});
  expect_failure("--noise -1", {"--noise", "-1"});
  expect_failure("--diverge-factor 0.5", {"--diverge-factor", "0.5"});
  expect_failure("--dim many", {"--dim", "many"});
  expect_failure("--baseline r-adazo --optimizer zo-sgd", {"--baseline", "r-adazo"});
}

TEST_F(BenchSynthetic, AConfigFileSetsOptionsByNameAndFlagsWin) {
  const fs::path config = dir_ / "bench.json";
  std::ofstream(config) << R"({"function": "quadratic", "dim": 12, "steps": 4, "optimizer": ["zo-sgd", "r-adazo"],
                              "lr_grid": [1e-3, 1e-2], "threads": 1})";
  const fs::path out = dir_ / "configured";
  Result r = zo("bench synthetic --config '" + config.string() + "' --dim 9 --out '" + out.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(slurp(out / "summary.json"));
  EXPECT_EQ(j["config"]["function"], "quadratic");
  EXPECT_EQ(j["config"]["dim"], 9);  // the flag wins over the file's 12
  EXPECT_EQ(j["config"]["steps"], 4);
  EXPECT_EQ(j["runs"].size(), 4u);
  std::ofstream(config) << R"({"dim": 12, "bogus": 1})";
  r = zo("bench synthetic --config '" + config.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(config.string() + ": key 'bogus': not an option of zo bench synthetic"), std::string::npos) << r.err;
}

TEST_F(BenchSynthetic, UnwritableOutputFolderIsNamed) {
  std::ofstream(dir_ / "file") << "x";
  const std::string bad = (dir_ / "file" / "sub").string();
  Result r = zo("bench synthetic --dim 10 --steps 2 --out '" + bad + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
}

TEST_F(BenchSynthetic, HelpDocumentsEveryOption) {
  Result r = zo("bench synthetic --help");
  EXPECT_EQ(r.status, 0);
  for (const char* option : {"--function", "--dim", "--optimizer", "--baseline", "--steps", "--seed", "--out", "--lr",
                             "--lr-grid", "--queries", "--eps", "--direction", "--difference", "--noise", "--condition",
                             "--beta1", "--beta2", "--nan-policy", "--log-every", "--diverge-factor", "--threads", "--config"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

}  // namespace
