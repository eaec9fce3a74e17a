// Distributed and micro-batched `zo finetune` (docs/distributed.md): a batch's loss as per-example terms
// reduced in one fixed order, so that micro-batches, data-parallel ranks and probe-parallel ranks give
// the run of one process bit for bit — ledger, logs and weights; resume across a change of rank count;
// a rank killed with SIGKILL ends the job with an error instead of a hang.
// The MPI tests run the real `mpirun` (--oversubscribe: two ranks on a small machine;
// --allow-run-as-root when root) and are skipped, visibly, when zo was built without MPI.
#include "zo/nn/blas.hpp"
#include "zo/nn/ops.hpp"
#include "zo/train/communicator.hpp"
#include "zo/train/loss_terms.hpp"
#include "zo/train/trainer.hpp"

#include "../test_util.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using zo::test::slurp;

const std::string kData = std::string(ZO_SOURCE_DIR) + "/tests/data/";
const std::string kMpirun = ZO_MPIEXEC;

// ---- the pieces ------------------------------------------------------------------------------------

TEST(LossTerms, PiecesAppendedInOrderReduceExactlyAsTheWhole) {
  zo::LossTerms whole{.values = {0.1, 0.7, 1e-17, 3.3, 2.0, 1e16}, .counts = {2, 0, 1, 3}};
  const double expected = (((((0.0 + 0.1) + 0.7) + 1e-17) + 3.3) + 2.0 + 1e16) / 6.0;
  EXPECT_EQ(whole.reduce(), expected);
  zo::LossTerms a{.values = {0.1, 0.7}, .counts = {2, 0}}, b{.values = {1e-17}, .counts = {1}},
      c{.values = {3.3, 2.0, 1e16}, .counts = {3}};
  zo::LossTerms joined;
  for (const auto* piece : {&a, &b, &c}) joined.append(*piece);
  EXPECT_EQ(joined.values, whole.values);
  EXPECT_EQ(joined.counts, whole.counts);
  EXPECT_EQ(joined.reduce(), whole.reduce());
  // pack / unpack: the concatenation of packed pieces is the packed whole.
  std::vector<double> packed;
  for (const auto* piece : {&a, &b, &c}) {
    const std::vector<double> p = piece->pack();
    packed.insert(packed.end(), p.begin(), p.end());
  }
  EXPECT_EQ(packed, whole.pack());
  const zo::LossTerms back = zo::LossTerms::unpack(packed);
  EXPECT_EQ(back.values, whole.values);
  EXPECT_EQ(back.counts, whole.counts);
  EXPECT_TRUE(std::isnan(zo::LossTerms{}.reduce()));
  zo::test::expect_error([] { (void)zo::LossTerms{.values = {1.0}, .counts = {2}}.reduce(); }, {"counts add up to 2", "1 values"});
  zo::test::expect_error([] { (void)zo::LossTerms::unpack(std::vector<double>{3.0, 1.0}); }, {"malformed", "count 3"});
}

TEST(Communicator, SingleProcessGathersItsOwnValuesAndShardsCoverTheBatchInOrder) {
  zo::SingleProcess single;
  EXPECT_EQ(single.rank(), 0);
  EXPECT_EQ(single.size(), 1);
  const std::vector<double> v{1.5, -2.0};
  EXPECT_EQ(single.allgather(v), v);
  single.barrier();
  EXPECT_EQ(single.stats().exchanges, 1);
  EXPECT_EQ(single.stats().bytes_sent, 0);
  EXPECT_EQ(single.describe(), "single process");
  // Shards: contiguous, in rank order, sizes differing by at most one; a rank may get none.
  for (std::size_t n : {0u, 1u, 5u, 16u}) {
    for (int parts : {1, 2, 3, 7}) {
      std::size_t next = 0;
      for (int r = 0; r < parts; ++r) {
        const zo::Shard s = zo::shard_of(n, parts, r);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.end - s.begin, n / std::size_t(parts) + 1);
        EXPECT_GE(s.end - s.begin, n / std::size_t(parts));
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
  }
  zo::test::expect_error([] { (void)zo::shard_of(4, 2, 2); }, {"rank 2 of 2"});
  EXPECT_EQ(zo::parallel_mode_from_string("probes"), zo::ParallelMode::probes);
  EXPECT_EQ(zo::to_string(zo::parallel_mode_from_string("data")), "data");
  zo::test::expect_error([] { (void)zo::parallel_mode_from_string("tensor"); }, {"'tensor'", "data, probes"});
  // Without a launcher's environment this process is not an MPI rank.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr && std::getenv("PMI_SIZE") == nullptr && std::getenv("PMIX_RANK") == nullptr) {
    EXPECT_FALSE(zo::launched_by_mpi());
  }
  if (!zo::built_with_mpi()) zo::test::expect_error([] { (void)zo::world_communicator(); }, {"built without MPI"});
}

// ---- whole runs through build/zo ---------------------------------------------------------------------

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  // Kernels whose products are row-invariant (bit-exact splits need them, docs/distributed.md): this
  // process's when its probe passes, else the generic ones, which every x86-64 CPU runs. Always set,
  // also over an OPENBLAS_CORETYPE the environment brings (a machine may set Haswell for every
  // process). Decided before fork: OpenBLAS's threads do not exist in the child.
  static const std::string kernels = zo::nn::ops::matmul_is_row_invariant() ? zo::nn::blas_core() : "Prescott";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    std::FILE* f = std::freopen(log.c_str(), "a", stderr);
    std::FILE* g = std::freopen(log.c_str(), "a", stdout);
    (void)f, (void)g;
    // One thread a process, so that one process and N ranks run the same arithmetic on a small machine.
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::setenv("OPENBLAS_NUM_THREADS", "1", 1);
    ::setenv("OPENBLAS_CORETYPE", kernels.c_str(), 1);
    zo::test::exec_or_exit(args);
  }
  return pid;
}

using zo::test::wait_exit;

int run(const std::vector<std::string>& args, const fs::path& log) { return wait_exit(spawn(args, log)); }

std::vector<std::string> finetune(const fs::path& out, const std::vector<std::string>& extra, int steps = 8) {
  std::vector<std::string> args{zo::test::zo_binary(), "finetune", "--model", kData + "models/opt-tied", "--tokenizer",
                                kData + "tokenizers/bytelevel-1k/tokenizer.json", "--task", "sst2", "--train",
                                kData + "tasks/sst2_train.jsonl", "--eval", kData + "tasks/sst2_eval.jsonl", "--eval-k", "6",
                                "--steps", std::to_string(steps), "--batch", "5", "--lr", "1e-3", "--eval-every", "4",
                                "--checkpoint-every", "3", "--no-plots", "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// `mpirun -np N` in front of a command.
std::vector<std::string> mpirun(int ranks, const std::vector<std::string>& command) {
  std::vector<std::string> args{kMpirun, "--oversubscribe", "-np", std::to_string(ranks), "-x", "OMP_NUM_THREADS",
                                "-x", "OPENBLAS_NUM_THREADS"};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

#define SKIP_WITHOUT_MPI() \
  if (kMpirun.empty()) GTEST_SKIP() << "zo was built without MPI (ZO_MPI off or no mpirun): MPI runs not tested"

// The step, loss, lr and skipped columns of train_log.csv (the timing columns differ between runs).
std::string log_losses(const fs::path& p) { return zo::test::leading_columns(p, 4); }

// The eval_log.csv columns but the time.
std::string eval_scores(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    for (std::size_t i = 0; i < f.size(); ++i)
      if (i != 4) out += f[i] + ",";
    out += "\n";
  }
  return out;
}

// Two output folders hold the same run: the same ledger, logs and weights, byte for byte.
void expect_same_run(const fs::path& a, const fs::path& b) {
  const std::string weights = slurp(a / "model" / "model.safetensors");
  ASSERT_GT(weights.size(), 100000u) << a;
  EXPECT_TRUE(weights == slurp(b / "model" / "model.safetensors")) << a << " and " << b << ": the weights differ";
  EXPECT_EQ(slurp(a / "ledger.tsv"), slurp(b / "ledger.tsv")) << a << " and " << b;
  EXPECT_EQ(log_losses(a / "train_log.csv"), log_losses(b / "train_log.csv"));
  EXPECT_EQ(eval_scores(a / "eval_log.csv"), eval_scores(b / "eval_log.csv"));
}

TEST(MicroBatch, ChunksOfTheBatchGiveTheWholeBatchsRunBitForBit) {
  const fs::path dir = zo::test::fresh_dir("zo_micro_");
  const fs::path log = dir / "log.txt";
  for (const std::vector<std::string>& method :
       {std::vector<std::string>{"--optimizer", "zo-sgd"},
        std::vector<std::string>{"--optimizer", "r-adazo", "--direction", "bcd", "--loss", "classification"}}) {
    const std::string name = method[1];
    ASSERT_EQ(run(finetune(dir / (name + "-whole"), method), log), 0) << slurp(log);
    for (const std::string m : {"1", "2"}) {
      std::vector<std::string> chunked = method;
      chunked.insert(chunked.end(), {"--micro-batch", m});
      ASSERT_EQ(run(finetune(dir / (name + "-micro" + m), chunked), log), 0) << slurp(log);
      expect_same_run(dir / (name + "-whole"), dir / (name + "-micro" + m));
    }
  }
  fs::remove_all(dir);
}

TEST(Mpi, TwoRanksGiveTheSingleProcessRunBitForBit) {
  SKIP_WITHOUT_MPI();
  const fs::path dir = zo::test::fresh_dir("zo_mpi_data_");
  const fs::path log = dir / "log.txt";
  for (const std::vector<std::string>& method :
       {std::vector<std::string>{"--optimizer", "zo-sgd"}, std::vector<std::string>{"--optimizer", "r-adazo", "--direction", "bcd"},
        std::vector<std::string>{"--optimizer", "zo-sgd", "--loss", "classification", "--micro-batch", "2"}}) {
    const std::string name = method[1] + std::to_string(method.size());
    ASSERT_EQ(run(finetune(dir / (name + "-1"), method), log), 0) << slurp(log);
    ASSERT_EQ(run(mpirun(2, finetune(dir / (name + "-2"), method)), log), 0) << slurp(log);
    expect_same_run(dir / (name + "-1"), dir / (name + "-2"));
    const auto summary = nlohmann::json::parse(slurp(dir / (name + "-2") / "summary.json"));
    EXPECT_EQ(summary["distributed"]["ranks"], 2);
    EXPECT_EQ(summary["distributed"]["mode"], "data");
    EXPECT_NE(summary["distributed"]["communicator"].get<std::string>().find("MPI"), std::string::npos);
    EXPECT_GE(summary["distributed"]["wait_seconds"].get<double>(), 0.0);
    const auto single = nlohmann::json::parse(slurp(dir / (name + "-1") / "summary.json"));
    EXPECT_EQ(single["distributed"]["ranks"], 1);
    EXPECT_EQ(single["distributed"]["bytes_per_step"], 0.0);  // one process exchanges nothing
    EXPECT_GT(summary["distributed"]["bytes_per_step"].get<double>(), 0.0);
    EXPECT_LT(summary["distributed"]["bytes_per_step"].get<double>(), 4096.0);  // scalars, not weights
  }
  fs::remove_all(dir);
}

TEST(Mpi, ProbeParallelRanksGiveTheSingleProcessQProbeRunBitForBit) {
  SKIP_WITHOUT_MPI();
  const fs::path dir = zo::test::fresh_dir("zo_mpi_probes_");
  const fs::path log = dir / "log.txt";
  for (const std::string difference : {"central", "forward"}) {
    const std::vector<std::string> method{"--queries", "3", "--difference", difference, "--optimizer", "r-adazo"};
    ASSERT_EQ(run(finetune(dir / (difference + "-1"), method, 6), log), 0) << slurp(log);
    std::vector<std::string> probes = method;
    probes.insert(probes.end(), {"--mpi-mode", "probes"});
    ASSERT_EQ(run(mpirun(2, finetune(dir / (difference + "-2"), probes, 6)), log), 0) << slurp(log);
    expect_same_run(dir / (difference + "-1"), dir / (difference + "-2"));
  }
  fs::remove_all(dir);
}

// The ranks of a job and their children (mpirun starts the ranks as its children).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(pid_t(std::stol(name)));
  }
  return out;
}

std::int64_t ledger_rows(const fs::path& p) {
  const std::string text = slurp(p);
  const auto lines = std::count(text.begin(), text.end(), '\n');
  return lines >= 2 ? lines - 2 : 0;
}

// Waits until the run's ledger holds `rows` rows (and a checkpoint exists), then kills: the rank of
// `rank_env` (OMPI_COMM_WORLD_RANK) when given, else the process itself.
void kill_at(pid_t pid, const fs::path& out, std::int64_t rows, const std::string& rank_env = "") {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (ledger_rows(out / "ledger.tsv") < rows) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the run made no progress";
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the run ended before it could be killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (rank_env.empty()) {
    ::kill(pid, SIGKILL);
    return;
  }
  for (pid_t child : children_of(pid)) {
    const std::string environ = slurp(fs::path("/proc") / std::to_string(child) / "environ");
    if (environ.find("OMPI_COMM_WORLD_RANK=" + rank_env + '\0') != std::string::npos) {
      ::kill(child, SIGKILL);
      return;
    }
  }
  ADD_FAILURE() << "no rank " << rank_env << " among mpirun's children";
}

TEST(Mpi, AKilledRankEndsTheJobWithAnErrorAndResumeWithAnotherRankCountGivesTheSameRun) {
  SKIP_WITHOUT_MPI();
  const fs::path dir = zo::test::fresh_dir("zo_mpi_kill_");
  const fs::path log = dir / "log.txt";
  const std::vector<std::string> method{"--optimizer", "r-adazo", "--direction", "bcd"};
  const int steps = 12;
  ASSERT_EQ(run(finetune(dir / "clean", method, steps), log), 0) << slurp(log);

  // 2 ranks; rank 1 is killed after step 4 (a checkpoint at 3): the job ends with an error, within a minute.
  const fs::path out = dir / "killed";
  const fs::path job_log = dir / "job.txt";
  const pid_t job = spawn(mpirun(2, finetune(out, method, steps)), job_log);
  kill_at(job, out, 4, "1");
  const auto t0 = std::chrono::steady_clock::now();
  const int code = wait_exit(job);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(code, 0) << slurp(job_log);
  EXPECT_LT(seconds, 60.0);
  EXPECT_NE(slurp(job_log).find("signal 9"), std::string::npos) << slurp(job_log);
  EXPECT_TRUE(children_of(job).empty());
  // Resumed by one process, then (killed again) by 3 ranks: the clean run's result.
  const pid_t one = spawn(finetune(out, {"--optimizer", "r-adazo", "--direction", "bcd", "--resume"}, steps), log);
  kill_at(one, out, 8);
  wait_exit(one);
  std::vector<std::string> resume = method;
  resume.push_back("--resume");
  ASSERT_EQ(run(mpirun(3, finetune(out, resume, steps)), log), 0) << slurp(log);
  expect_same_run(dir / "clean", out);
  fs::remove_all(dir);
}

TEST(Mpi, MpiOptionsAreCheckedAndAnErrorOnOneRankEndsEveryRank) {
  SKIP_WITHOUT_MPI();
  const fs::path dir = zo::test::fresh_dir("zo_mpi_error_");
  const fs::path log = dir / "log.txt";
  EXPECT_EQ(run(finetune(dir / "bad", {"--mpi-mode", "tensor"}), log), 2);
  EXPECT_NE(slurp(log).find("--mpi-mode"), std::string::npos) << slurp(log);
  // A missing training file: every rank fails the same way and the job ends (no rank waits forever).
  auto args = finetune(dir / "missing", {});
  args[9] = (dir / "nothing.jsonl").string();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_NE(run(mpirun(2, args), log), 0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60.0);
  EXPECT_NE(slurp(log).find("nothing.jsonl"), std::string::npos) << slurp(log);
  fs::remove_all(dir);
}

}  // namespace
