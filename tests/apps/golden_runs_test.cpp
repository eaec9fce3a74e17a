// Whole runs of `zo finetune`, `zo attack` and `zo bench synthetic` held to recorded outputs, bit for
// bit: the final weights of fine-tuning (dense and block-coordinate, zo-sgd and r-adazo), the attack's
// per-image results and curves, and the synthetic bench's curves. The recorded values
// (tests/data/goldens/runs.json) were made by the code before the library was reshaped into layers,
// one step driver and facades; any change to what a run computes fails here. Runs are pinned to one
// thread (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS) and to OpenBLAS's generic kernels
// (OPENBLAS_CORETYPE=Prescott, which every x86-64 CPU runs and every OpenBLAS built for several CPUs
// has: each kernel set rounds sgemm's sums its own way), so the numbers depend on neither the
// machine's cores nor its vector units.
//
// A deliberate change of the numbers (a new random stream, a new update rule) re-records them: each
// failure prints the new value to paste into runs.json, with the reason in the commit message.
#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

using zo::test::slurp;
const fs::path kRoot = ZO_SOURCE_DIR;
const fs::path kData = kRoot / "tests" / "data";
const fs::path kFashionMnist = "/usr/share/datasets/fashion-mnist";

// FNV-1a, 64 bits: a stable digest that needs no library.
std::string digest(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

// Runs build/zo with `args` on one thread and OpenBLAS's generic kernels; stdout and stderr go to `log`. Returns the exit status.
int run_zo(std::vector<std::string> args, const fs::path& log) {
  args.insert(args.begin(), zo::test::zo_binary());
  return zo::test::run_program(args, log, log, {{"OMP_NUM_THREADS", "1"}, {"OPENBLAS_NUM_THREADS", "1"}, {"OPENBLAS_CORETYPE", "Prescott"}});
}

const nlohmann::json& goldens() {
  static const nlohmann::json j = nlohmann::json::parse(slurp(kData / "goldens" / "runs.json"));
  return j;
}

void expect_golden(const std::string& run, const std::string& file, const std::string& bytes) {
  ASSERT_FALSE(bytes.empty()) << run << ": " << file << " is empty or missing";
  const std::string expected = goldens().at(run).at(file).get<std::string>();
  EXPECT_EQ(digest(bytes), expected) << run << ": " << file << " differs from the recorded run; if the change is "
                                     << "deliberate, record \"" << digest(bytes) << "\" in tests/data/goldens/runs.json";
}

struct FinetuneCase {
  std::string name, direction, optimizer, lr;
};

class GoldenFinetune : public ::testing::TestWithParam<FinetuneCase> {};

TEST_P(GoldenFinetune, FinalWeightsAndEvaluationEqualTheRecordedRun) {
  const FinetuneCase& c = GetParam();
  const fs::path dir = zo::test::fresh_dir("zo_golden_ft_");
  const fs::path out = dir / "run";
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run_zo({"finetune", "--model", (kData / "models/opt-tied").string(), "--tokenizer",
                    (kData / "tokenizers/bytelevel-1k/tokenizer.json").string(), "--task", "sst2", "--train",
                    (kData / "tasks/sst2_train.jsonl").string(), "--eval", (kData / "tasks/sst2_eval.jsonl").string(),
                    "--steps", "12", "--batch", "4", "--lr", c.lr, "--direction", c.direction, "--optimizer", c.optimizer,
                    "--seed", "7", "--eval-every", "6", "--no-plots", "--out", out.string()},
                   log),
            0)
      << slurp(log);
  const std::string run = "finetune/" + c.name;
  expect_golden(run, "model.safetensors", slurp(out / "model" / "model.safetensors"));
  expect_golden(run, "ledger.rows", [&] {
    // The ledger's rows (step, seeds, ρ, losses, lr, blocks), without its two header lines, which
    // describe the run's configuration and may gain keys.
    std::istringstream in(slurp(out / "ledger.tsv"));
    std::string line, rows;
    for (int i = 0; std::getline(in, line); ++i)
      if (i >= 2) rows += line + "\n";
    return rows;
  }());
  const nlohmann::json summary = nlohmann::json::parse(slurp(out / "summary.json"));
  EXPECT_EQ(fmt::format("{:.17g}", summary.at("last_eval").at("loss").get<double>()),
            goldens().at(run).at("last_eval_loss").get<std::string>())
      << run;
  EXPECT_EQ(summary.at("steps").get<int>(), 12);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Runs, GoldenFinetune,
                         ::testing::Values(FinetuneCase{"dense-zo-sgd", "dense", "zo-sgd", "1e-3"},
                                           FinetuneCase{"bcd-zo-sgd", "bcd", "zo-sgd", "1e-3"},
                                           FinetuneCase{"dense-r-adazo", "dense", "r-adazo", "1e-3"},
                                           FinetuneCase{"bcd-r-adazo", "bcd", "r-adazo", "1e-3"}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(GoldenAttack, ResultsAndCurvesEqualTheRecordedRun) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionMnist;
  const fs::path dir = zo::test::fresh_dir("zo_golden_attack_");
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run_zo({"attack", "--victim", (kRoot / "models/victim/fashion_mlp.safetensors").string(), "--images", "3",
                    "--queries", "300", "--optimizer", "zo-sgd,zo-adamm,r-adazo-bcd,zo-sign-sgd-sparse", "--threads", "1",
                    "--seed", "5", "--out", (dir / "out").string()},
                   log),
            0)
      << slurp(log);
  expect_golden("attack", "results.csv", slurp(dir / "out" / "results.csv"));
  expect_golden("attack", "curves.csv", slurp(dir / "out" / "curves.csv"));
  fs::remove_all(dir);
}

TEST(GoldenBenchSynthetic, CurvesEqualTheRecordedRun) {
  const fs::path dir = zo::test::fresh_dir("zo_golden_synthetic_");
  const fs::path log = dir / "log.txt";
  ASSERT_EQ(run_zo({"bench", "synthetic", "--function", "levy", "--dim", "200", "--steps", "150", "--optimizer",
                    "zo-sgd,zo-adamm,r-adazo", "--lr-grid", "1e-3,1e-2", "--queries", "2", "--seed", "3", "--threads",
                    "1", "--out", (dir / "out").string()},
                   log),
            0)
      << slurp(log);
  expect_golden("bench-synthetic", "curves.csv", slurp(dir / "out" / "curves.csv"));
  fs::remove_all(dir);
}

}  // namespace
