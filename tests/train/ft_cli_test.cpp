// `zo finetune` and `zo replay` end to end through the real binary: a run killed with SIGKILL and
// resumed ends with byte-identical weights; replay rebuilds them from the base model and the ledger;
// the shared-prefix forward changes nothing; bad input fails with a message naming it.
#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zo::test::TempDir;
using zo::test::slurp;

const std::string kZo = zo::test::zo_binary();
const std::string kData = std::string(ZO_SOURCE_DIR) + "/tests/data/";

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    zo::test::exec_or_exit(args);
  }
  return pid;
}

using zo::test::wait_exit;

int run(const std::vector<std::string>& args, const fs::path& log) { return wait_exit(spawn(args, log)); }

// The first four columns (step, loss, lr, skipped) of train_log.csv: the timing columns differ.
std::string log_losses(const fs::path& p) { return zo::test::leading_columns(p, 4); }

std::int64_t ledger_rows(const fs::path& p) {
  const std::string text = slurp(p);
  const auto lines = std::count(text.begin(), text.end(), '\n');
  return lines >= 2 ? lines - 2 : 0;
}

std::vector<std::string> finetune(const fs::path& out, std::vector<std::string> extra = {}, int steps = 40) {
  std::vector<std::string> args{kZo,
                                "finetune",
                                "--model",
                                kData + "models/opt-tied",
                                "--tokenizer",
                                kData + "tokenizers/bytelevel-1k/tokenizer.json",
                                "--task",
                                "sst2",
                                "--train",
                                kData + "tasks/sst2_train.jsonl",
                                "--eval",
                                kData + "tasks/sst2_eval.jsonl",
                                "--steps",
                                std::to_string(steps),
                                "--batch",
                                "4",
                                "--lr",
                                "1e-3",
                                "--eval-every",
                                "15",
                                "--checkpoint-every",
                                "5",
                                "--no-plots",
                                "--out",
                                out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Kills the run with SIGKILL once its ledger holds at least `rows` rows.
void kill_at(pid_t pid, const fs::path& ledger, std::int64_t rows) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ledger_rows(ledger) < rows) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the run made no progress";
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the run ended before it could be killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
}

TEST(FinetuneCli, ARunKilledTwiceWithSigkillAndResumedEndsWithByteIdenticalWeights) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  ASSERT_EQ(run(finetune(dir.path / "clean"), log), 0) << slurp(log);

  const fs::path out = dir.path / "killed";
  kill_at(spawn(finetune(out), log), out / "ledger.tsv", 13);
  kill_at(spawn(finetune(out, {"--resume"}), log), out / "ledger.tsv", 27);
  ASSERT_EQ(run(finetune(out, {"--resume"}), log), 0) << slurp(log);

  const std::string clean = slurp(dir.path / "clean" / "model" / "model.safetensors");
  ASSERT_GT(clean.size(), 100000u);
  EXPECT_TRUE(clean == slurp(out / "model" / "model.safetensors"));
  EXPECT_EQ(slurp(dir.path / "clean" / "ledger.tsv"), slurp(out / "ledger.tsv"));
  const std::string losses = log_losses(dir.path / "clean" / "train_log.csv");
  EXPECT_EQ(std::count(losses.begin(), losses.end(), '\n'), 41);
  EXPECT_EQ(losses, log_losses(out / "train_log.csv"));  // the log was cut back to each checkpoint
  EXPECT_NE(clean, slurp(kData + "models/opt-tied/model.safetensors"));  // training moved θ
}

TEST(FinetuneCli, ReplayRebuildsTheWeightsFromTheBaseModelAndTheLedger) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  for (const std::string mode : {"full", "lora"}) {
    const fs::path out = dir.path / mode;
    std::vector<std::string> extra{"--mode", mode, "--direction", "bcd", "--optimizer", "zo-sgd"};
    ASSERT_EQ(run(finetune(out, extra, 12), log), 0) << slurp(log);
    ASSERT_EQ(run({kZo, "replay", "--model", kData + "models/opt-tied", "--ledger", (out / "ledger.tsv").string(), "--out",
                   (dir.path / ("replay-" + mode)).string()},
                  log),
              0)
        << slurp(log);
    EXPECT_TRUE(slurp(out / "model" / "model.safetensors") == slurp(dir.path / ("replay-" + mode) / "model.safetensors")) << mode;
  }
  EXPECT_TRUE(slurp(dir.path / "lora" / "model" / "adapters.safetensors") ==
              slurp(dir.path / "replay-lora" / "adapters.safetensors"));
  // Replay onto another base model is refused.
  EXPECT_EQ(run({kZo, "replay", "--model", kData + "models/opt-postnorm-f16", "--ledger",
                 (dir.path / "full" / "ledger.tsv").string(), "--out", (dir.path / "x").string()},
                log),
            1);
}

TEST(FinetuneCli, ASparseRunWithAGranuleRecordsItReplaysAndRefusesAnotherGranuleOnResume) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  const fs::path out = dir.path / "g16";
  ASSERT_EQ(run(finetune(out, {"--direction", "sparse", "--keep", "0.25", "--granule", "16"}, 6), log), 0) << slurp(log);
  EXPECT_NE(slurp(out / "ledger.tsv").find("\"granule\":16"), std::string::npos);
  ASSERT_EQ(run({kZo, "replay", "--model", kData + "models/opt-tied", "--ledger", (out / "ledger.tsv").string(), "--out",
                 (dir.path / "replay").string()},
                log),
            0)
      << slurp(log);
  EXPECT_TRUE(slurp(out / "model" / "model.safetensors") == slurp(dir.path / "replay" / "model.safetensors"));
  // Granule 1 (the default) is not written: runs made before granules existed read the same.
  ASSERT_EQ(run(finetune(dir.path / "g1", {"--direction", "sparse", "--keep", "0.25"}, 2), log), 0) << slurp(log);
  EXPECT_EQ(slurp(dir.path / "g1" / "ledger.tsv").find("granule"), std::string::npos);
  // Resuming with another granule is another run: refused, naming what differs.
  auto resume = finetune(out, {"--direction", "sparse", "--keep", "0.25", "--granule", "4", "--resume"}, 8);
  EXPECT_EQ(run(resume, log), 1);
  EXPECT_NE(slurp(log).find("\"granule\":4"), std::string::npos) << slurp(log);
  EXPECT_EQ(run(finetune(dir.path / "bad", {"--direction", "sparse", "--granule", "12"}, 2), log), 2);  // a usage error
  EXPECT_NE(slurp(log).find("option --granule = 12: must be a power of 2 in [1, 64]"), std::string::npos) << slurp(log);
}

TEST(FinetuneCli, TheSharedPrefixForwardGivesTheSameRunBitForBit) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  std::vector<std::string> bcd{"--direction", "bcd", "--optimizer", "r-adazo"};
  ASSERT_EQ(run(finetune(dir.path / "prefix", bcd, 10), log), 0) << slurp(log);
  bcd.push_back("--no-shared-prefix");
  ASSERT_EQ(run(finetune(dir.path / "full", bcd, 10), log), 0) << slurp(log);
  EXPECT_EQ(slurp(dir.path / "prefix" / "ledger.tsv"), slurp(dir.path / "full" / "ledger.tsv"));
}

TEST(FinetuneCli, ABadRecordIsAnErrorNamingFileLineAndField) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  auto args = finetune(dir.path / "bad");
  ASSERT_EQ(args[8], "--train");
  args[9] = kData + "tasks/bad_field.jsonl";
  EXPECT_EQ(run(args, log), 1);
  EXPECT_NE(slurp(log).find("bad_field.jsonl:3: field 'sentence': missing"), std::string::npos) << slurp(log);
}

TEST(FinetuneCli, AConfigFileSetsOptionsAndACustomTemplateAndFlagsWin) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  const fs::path config = dir.path / "run.json";
  std::ofstream(config) << R"({"model": ")" << kData << R"(models/opt-tied", "tokenizer": ")" << kData
                        << R"(tokenizers/bytelevel-1k/tokenizer.json", "task": "custom", "train": ")" << kData
                        << R"(tasks/sst2_train.jsonl", "steps": 3, "batch": 2, "lr": 0.001, "optimizer": "r-adazo",
      "loss": "classification", "no_plots": true,
      "template": {"template": "Review: {sentence}\nSentiment:", "label_words": [" bad", " good"]}})";
  ASSERT_EQ(run({kZo, "finetune", "--config", config.string(), "--steps", "4", "--out", (dir.path / "out").string()}, log), 0)
      << slurp(log);
  const std::string summary = slurp(dir.path / "out" / "summary.json");
  EXPECT_NE(summary.find("\"steps\": 4"), std::string::npos) << summary;  // the flag won over the config's 3
  EXPECT_NE(slurp(dir.path / "out" / "ledger.tsv").find("\"kind\":\"r-adazo\""), std::string::npos);

  std::ofstream(config, std::ios::trunc) << R"({"learning_rate": 1})";
  EXPECT_EQ(run({kZo, "finetune", "--config", config.string(), "--out", (dir.path / "out2").string()}, log), 1);
  EXPECT_NE(slurp(log).find("key 'learning_rate': not an option of zo finetune"), std::string::npos) << slurp(log);
}

// A config value nested without bound (the "template" is copied whole) is refused before parsing.
TEST(FinetuneCli, AConfigNestedTooDeepIsRefusedNamingTheFile) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  const fs::path config = dir.path / "deep.json";
  std::ofstream(config) << R"({"task": "custom", "template": )" << std::string(200000, '[')
                        << std::string(200000, ']') << "}";
  const int status = run({kZo, "finetune", "--config", config.string(), "--out", (dir.path / "out").string()}, log);
  EXPECT_EQ(status, 1) << slurp(log);
  EXPECT_NE(slurp(log).find(config.string() + ": JSON nested deeper than 256 levels"), std::string::npos) << slurp(log);
  EXPECT_FALSE(fs::exists(dir.path / "out"));
}

// --steps 0 evaluates only: the saved model of a run, reloaded, scores the evaluation set exactly as the
// run's own final evaluation did; without --eval it is an error saying so.
TEST(FinetuneCli, StepsZeroEvaluatesASavedModelAsTheRunDid) {
  TempDir dir;
  const fs::path log = dir.path / "log.txt";
  ASSERT_EQ(run(finetune(dir.path / "train", {}, 12), log), 0) << slurp(log);
  auto args = finetune(dir.path / "eval", {}, 0);
  args[3] = (dir.path / "train" / "model").string();
  ASSERT_EQ(run(args, log), 0) << slurp(log);
  const auto trained = nlohmann::json::parse(slurp(dir.path / "train" / "summary.json"));
  const auto evaluated = nlohmann::json::parse(slurp(dir.path / "eval" / "summary.json"));
  EXPECT_EQ(evaluated["termination"], "evaluation_only");
  EXPECT_EQ(evaluated["last_eval"]["accuracy"], trained["last_eval"]["accuracy"]);
  EXPECT_NEAR(evaluated["last_eval"]["loss"].get<double>(), trained["last_eval"]["loss"].get<double>(), 1e-6);
  EXPECT_NEAR(evaluated["last_eval"]["margin"].get<double>(), trained["last_eval"]["margin"].get<double>(), 1e-6);
  EXPECT_FALSE(fs::exists(dir.path / "eval" / "ledger.tsv"));

  auto no_eval = finetune(dir.path / "none", {}, 0);
  no_eval.erase(no_eval.begin() + 10, no_eval.begin() + 12);  // "--eval FILE"
  EXPECT_EQ(run(no_eval, log), 2);  // a usage error
  EXPECT_NE(slurp(log).find("option --steps = 0 evaluates only: it needs option --eval"), std::string::npos) << slurp(log);
}

TEST(FinetuneCli, HelpListsEveryOption) {
  TempDir dir;
  const fs::path log = dir.path / "help.txt";
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stdout);
    (void)f;
    ::execl(kZo.c_str(), kZo.c_str(), "finetune", "--help", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  EXPECT_EQ(wait_exit(pid), 0);
  const std::string help = slurp(log);
  for (const char* option : {"--model", "--task", "--train", "--eval", "--optimizer", "--direction", "--steps", "--lr", "--eps",
                             "--batch", "--k", "--seed", "--eval-every", "--checkpoint-every", "--out", "--resume", "--config",
                             "--loss", "--mode", "--nan-policy", "--micro-batch", "--mpi-mode"}) {
    EXPECT_NE(help.find(option), std::string::npos) << option;
  }
}

}  // namespace
