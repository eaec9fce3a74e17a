// A full disk: `zo finetune` (opt-tied, sst2, 40 steps) runs on a small filesystem with N pages left,
// so that one write runs out of space — the ledger's creation, a log's, the first checkpoint, a ledger
// row, a later checkpoint, the export. Each time the run must fail with an error naming the file
// (exit 1, not a crash), and once space is freed, --resume must finish with model/model.safetensors
// and ledger.tsv byte-identical to an uninterrupted run's: the previous checkpoint and the ledger
// stayed intact.
//
// The filesystem is a tmpfs mounted for the test (needs root, or CAP_SYS_ADMIN); without one, the
// same cases run under RLIMIT_FSIZE (a per-file size limit: EFBIG instead of ENOSPC); the test is
// skipped, saying so, when neither can be used.
#include "../test_util.hpp"

#include "zo/train/ledger.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(ZO_SOURCE_DIR) + "/tests/data/";
constexpr std::uint64_t kPage = 4096;

std::vector<std::string> finetune(const fs::path& out, int checkpoint_every, bool resume) {
  std::vector<std::string> args{zo::test::zo_binary(), "finetune", "--model", kData + "models/opt-tied", "--tokenizer",
                                kData + "tokenizers/bytelevel-1k/tokenizer.json", "--task", "sst2", "--train",
                                kData + "tasks/sst2_train.jsonl", "--eval", kData + "tasks/sst2_eval.jsonl", "--steps", "40",
                                "--batch", "4", "--lr", "1e-3", "--checkpoint-every", std::to_string(checkpoint_every),
                                "--no-plots", "--out", out.string()};
  if (resume) args.push_back("--resume");
  return args;
}

// Runs args with stderr to `log`; with file_limit, under RLIMIT_FSIZE (SIGXFSZ ignored, so that a
// write past the limit fails with EFBIG). Returns the exit status or 128 + signal.
int run(const std::vector<std::string>& args, const fs::path& log, std::optional<rlim_t> file_limit = std::nullopt) {
  std::fflush(nullptr);  // the child's freopen must not write the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (std::freopen(log.c_str(), "w", stderr) == nullptr || std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(126);
    if (file_limit) {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit{*file_limit, *file_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(125);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::uint64_t free_bytes(const fs::path& dir) {
  struct statvfs s {};
  if (::statvfs(dir.c_str(), &s) != 0) return 0;
  return std::uint64_t(s.f_bavail) * s.f_frsize;
}

// Fills the filesystem of `dir` with dir/filler, then gives back all but `pages` pages.
void fill_leaving(const fs::path& dir, std::uint64_t pages) {
  const int fd = ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<char> block(1 << 16, 'x');
  std::uint64_t size = 0;
  while (true) {
    const ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) break;
    size += std::uint64_t(n);
  }
  ASSERT_EQ(free_bytes(dir), 0u);
  ASSERT_GE(size, pages * kPage);
  ASSERT_EQ(::ftruncate(fd, off_t(size - pages * kPage)), 0);
  ::close(fd);
  ASSERT_EQ(free_bytes(dir), pages * kPage);
}

struct Case {
  std::string name;
  int checkpoint_every;
  std::uint64_t free_pages;  // tmpfs: pages left when the run starts
  std::int64_t resume_from;  // tmpfs: the checkpoint step resume must continue from (0: none)
  rlim_t file_limit;         // RLIMIT_FSIZE: bytes a file may hold (0: no such case)
  std::int64_t limit_resume_from;
  std::string file;          // the file the error must name (a part of its path)
};

// Pages, as this tiny run spends them: the ledger's header (2.9 KB: its second page from the 12th
// row, a row is ~105 bytes), train_log.csv and eval_log.csv (1 each), a checkpoint `ckpt` pages
// (params 683 KB, the optimizer state, state.json: 171 pages, measured on the clean run's), then
// the export (model.safetensors first).
std::vector<Case> cases(std::uint64_t ckpt) {
  return {
      {"ledger creation", 3, 0, 0, 1000, 0, "ledger.tsv"},
      {"train log creation", 3, 1, 0, 0, 0, "train_log.csv"},
      {"eval log creation", 3, 2, 0, 0, 0, "eval_log.csv"},
      {"first checkpoint", 3, 3, 0, 100000, 0, "step-00000003/params.safetensors"},
      {"ledger row", 6, 3 + ckpt, 6, 3000, 0, "ledger.tsv"},
      {"third checkpoint (two kept)", 3, 3 + 2 * ckpt, 6, 0, 0, "step-00000009/"},
      {"export", 0, 3 + 1 + ckpt, 40, 0, 0, "/model/"},
  };
}

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = zo::test::fresh_dir("zo_full_disk_");
    const std::string log = (dir_ / "clean.log").string();
    ASSERT_EQ(run(finetune(dir_ / "clean", 3, false), log), 0) << zo::test::slurp(log);
    clean_model_ = zo::test::slurp(dir_ / "clean" / "model" / "model.safetensors");
    clean_ledger_ = zo::test::slurp(dir_ / "clean" / "ledger.tsv");
    ASSERT_GT(clean_model_.size(), 100000u);
    for (const auto& f : fs::directory_iterator(dir_ / "clean" / "checkpoints" / "step-00000040"))
      checkpoint_pages_ += (f.file_size() + kPage - 1) / kPage;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The failed run's folder: the error names the file, the ledger reads, and --resume (with room
  // again) finishes byte-identical to the clean run, from the expected checkpoint.
  void check_failure_then_resume(const Case& c, std::int64_t resume_from, int rc, const fs::path& out, const fs::path& log,
                                 std::string_view reason, const std::function<void()>& make_room) {
    const std::string text = zo::test::slurp(log);
    EXPECT_EQ(rc, 1) << c.name << ":\n" << text;
    EXPECT_NE(text.find(reason), std::string::npos) << c.name << ": no '" << reason << "' in:\n" << text;
    EXPECT_NE(text.find(c.file), std::string::npos) << c.name << ": the error does not name '" << c.file << "':\n" << text;
    EXPECT_NE(text.find(out.string()), std::string::npos) << c.name << ": the error names no file in " << out << ":\n" << text;
    bool torn = false;
    if (fs::exists(out / "ledger.tsv")) {
      const zo::Ledger ledger = zo::read_ledger(out / "ledger.tsv");  // intact (a torn last row at most)
      EXPECT_LE(ledger.rows.size(), 40u);
      torn = !ledger.warning.empty();
    }
    make_room();
    const fs::path resume_log = dir_ / (c.name + "-resume.log");
    ASSERT_EQ(run(finetune(out, c.checkpoint_every, true), resume_log), 0) << c.name << ":\n" << zo::test::slurp(resume_log);
    const std::string resumed = zo::test::slurp(resume_log);
    if (resume_from > 0) {
      EXPECT_NE(resumed.find(fmt::format("step-{:08d} (step {} of 40)", resume_from, resume_from)), std::string::npos)
          << c.name << ":\n" << resumed;
    } else {
      EXPECT_NE(resumed.find("no checkpoint in"), std::string::npos) << c.name << ":\n" << resumed;
    }
    if (torn) {
      EXPECT_NE(resumed.find("dropped a truncated last row"), std::string::npos) << c.name << ":\n" << resumed;
    }
    EXPECT_TRUE(zo::test::slurp(out / "model" / "model.safetensors") == clean_model_) << c.name;
    EXPECT_EQ(zo::test::slurp(out / "ledger.tsv"), clean_ledger_) << c.name;
    const std::size_t error_at = text.find("error: ");
    const std::string error = error_at == std::string::npos ? "" : text.substr(error_at, text.find('\n', error_at) - error_at);
    std::printf("full disk: %s: %s%s; resumed from step %lld, byte-identical\n  %s\n", c.name.c_str(), std::string(reason).c_str(),
                torn ? " (a torn last ledger row, dropped on resume)" : "", static_cast<long long>(resume_from), error.c_str());
  }

  fs::path dir_;
  std::string clean_model_, clean_ledger_;
  std::uint64_t checkpoint_pages_ = 0;
};

TEST_F(FullDisk, EachWriteFailsNamingTheFileAndTheRunResumesIntact) {
  const fs::path mnt = dir_ / "mnt";
  fs::create_directories(mnt);
  bool mounted = false;
  std::string mount_error;
  const std::vector<Case> all = cases(checkpoint_pages_);
  for (const Case& c : all) {
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0) {
      mount_error = std::strerror(errno);
      if (!mounted) break;  // no mounts here: the RLIMIT_FSIZE cases below
      FAIL() << "mount: " << mount_error;
    }
    mounted = true;
    fill_leaving(mnt, c.free_pages);
    const fs::path out = mnt / "out";
    const fs::path log = dir_ / (c.name + ".log");
    const int rc = run(finetune(out, c.checkpoint_every, false), log);
    check_failure_then_resume(c, c.resume_from, rc, out, log, "No space left on device", [&] { fs::remove(mnt / "filler"); });
    ::umount2(mnt.c_str(), MNT_DETACH);
    if (HasFatalFailure()) return;
  }
  // RLIMIT_FSIZE: the cases a per-file limit can make (a file grows past it).
  int limited = 0;
  for (const Case& c : all) {
    if (c.file_limit == 0) continue;
    const fs::path out = dir_ / ("limited-" + std::to_string(limited++));
    const fs::path log = dir_ / (c.name + "-limited.log");
    const int rc = run(finetune(out, c.checkpoint_every, false), log, c.file_limit);
    if (rc == 125) GTEST_SKIP() << "skipped: neither a tmpfs mount nor RLIMIT_FSIZE can be used here";
    check_failure_then_resume(c, c.limit_resume_from, rc, out, log, "File too large", [] {});
    if (HasFatalFailure()) return;
  }
  if (!mounted) std::printf("full disk: tmpfs cases skipped (mount: %s); the RLIMIT_FSIZE cases ran\n", mount_error.c_str());
}

}  // namespace
