// The `zo` command as a new user meets it: exit status 2 and CLI11's message for usage errors (an
// unknown command names the closest one; `zo` alone prints the usage), 1 for runtime errors, 0 for
// --help and --version.
#include "../test_util.hpp"
#include "zo/nn/blas.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::string kZo = std::string(ZO_BINARY_DIR) + "/zo";

struct Result {
  int status = -1;
  std::string out, err;
};

using zo::test::slurp;

// Runs `zo args…` (no shell) with stdout and stderr captured; status is the exit code, or 128 + the
// signal that ended it.
Result zo(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const fs::path dir = zo::test::fresh_dir("zo_cli_test_");
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::vector<std::string> argv{kZo};
  argv.insert(argv.end(), args.begin(), args.end());
  Result r;
  r.status = zo::test::run_program(argv, out, err, env);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kZo)) << kZo << " is missing: build the zo target first";
  }
};

TEST_F(Cli, AnUnknownCommandNamesTheClosestOne) {
  const Result r = zo({"finetun"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "zo: unknown command 'finetun'. Did you mean 'finetune'?\n");
  EXPECT_EQ(r.out, "");

  const Result swapped = zo({"socre", "--model", "m"});
  EXPECT_EQ(swapped.status, 2);
  EXPECT_TRUE(contains(swapped.err, "unknown command 'socre'. Did you mean 'score'?")) << swapped.err;
}

TEST_F(Cli, AnUnknownCommandFarFromAllListsThem) {
  const Result r = zo({"xyzzy"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "zo: unknown command 'xyzzy'. Commands: ")) << r.err;
  for (const char* command : {"attack", "bench", "finetune", "replay", "score"}) EXPECT_TRUE(contains(r.err, command)) << r.err;
  EXPECT_FALSE(contains(r.err, "Did you mean")) << r.err;
}

TEST_F(Cli, AnUnknownNestedCommandNamesTheClosestOne) {
  const Result r = zo({"bench", "synthetik"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "zo bench: unknown command 'synthetik'. Did you mean 'synthetic'?\n");
}

TEST_F(Cli, VersionPrintsTheProjectVersionAndTheOpenBlasKernels) {
  const Result r = zo({"--version"});
  EXPECT_EQ(r.status, 0);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(r.out, m, std::regex("zo [0-9]+\\.[0-9]+\\.[0-9]+ \\(OpenBLAS ([A-Za-z0-9]+), (OpenMP|pthreads|sequential)\\)\n")))
      << r.out;
  EXPECT_EQ(r.err, "");
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the kernels were chosen by the caller
  // This test process loaded OpenBLAS without OPENBLAS_CORETYPE, as zo did: where OpenBLAS fell back
  // to its generic kernels, zo must have started again with the ones the CPU can run.
  EXPECT_EQ(m[2].str(), zo::nn::blas_threading());  // the test links the OpenBLAS build zo links
  const std::string upgrade = zo::nn::blas_core_upgrade();
  EXPECT_EQ(m[1].str(), upgrade.empty() ? zo::nn::blas_core() : upgrade) << "this process: " << zo::nn::blas_core();
}

TEST_F(Cli, AnOpenBlasCoretypeInTheEnvironmentStands) {
  const Result r = zo({"--version"}, {{"OPENBLAS_CORETYPE", "Prescott"}});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "(OpenBLAS Prescott, ")) << r.out;

  // The library proposes no other kernels once the variable is set, whatever OpenBLAS chose.
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before != nullptr ? before : "";
  ::setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  EXPECT_EQ(zo::nn::blas_core_upgrade(), "");
  if (before != nullptr) ::setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else ::unsetenv("OPENBLAS_CORETYPE");
}

TEST_F(Cli, NoCommandPrintsTheUsageWithTheCommands) {
  const Result r = zo({});
  EXPECT_EQ(r.status, 2);
  const std::string all = r.out + r.err;
  EXPECT_TRUE(contains(all, "Usage: zo")) << all;
  EXPECT_TRUE(contains(all, "Subcommands:")) << all;
  for (const char* command : {"attack", "bench", "finetune", "generate", "replay", "score"})
    EXPECT_TRUE(contains(all, command)) << all;

  const Result bench = zo({"bench"});
  EXPECT_EQ(bench.status, 2);
  EXPECT_TRUE(contains(bench.out + bench.err, "synthetic")) << bench.out + bench.err;
}

TEST_F(Cli, AnUnknownOptionIsAUsageError) {
  const Result r = zo({"finetune", "--no-such-flag"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "The following argument was not expected: --no-such-flag")) << r.err;

  const Result top = zo({"--no-such-flag"});
  EXPECT_EQ(top.status, 2);
  EXPECT_TRUE(contains(top.err, "--no-such-flag")) << top.err;
}

TEST_F(Cli, ABadValueIsAUsageError) {
  const Result r = zo({"finetune", "--steps", "abc"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--steps")) << r.err;
  EXPECT_TRUE(contains(r.err, "abc")) << r.err;
}

TEST_F(Cli, AMissingValueOrRequiredOptionIsAUsageError) {
  const Result missing_value = zo({"finetune", "--steps"});
  EXPECT_EQ(missing_value.status, 2);
  EXPECT_TRUE(contains(missing_value.err, "--steps")) << missing_value.err;

  const Result missing_option = zo({"score", "--text", "x"});
  EXPECT_EQ(missing_option.status, 2);
  EXPECT_TRUE(contains(missing_option.err, "--model is required")) << missing_option.err;
}

TEST_F(Cli, ARuntimeErrorExitsWithOne) {
  const Result r = zo({"score", "--model", "/nonexistent", "--text", "x"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(r.err, "zo: error: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "--text")) << r.err;  // the file it cannot open
}

TEST_F(Cli, HelpExitsWithZero) {
  const Result r = zo({"bench", "synthetic", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(contains(r.out, "Usage: zo bench synthetic")) << r.out;
  EXPECT_TRUE(contains(r.out, "--optimizer")) << r.out;

  const Result top = zo({"--help"});
  EXPECT_EQ(top.status, 0);
  EXPECT_TRUE(contains(top.out, "--version")) << top.out;
}

}  // namespace
