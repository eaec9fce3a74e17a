// kill -9 at any moment: `zo finetune` (opt-tied, sst2, 40 steps, a checkpoint every 3) is killed with
// SIGKILL at random moments — at a random time, just after a ledger row, inside a checkpoint write,
// during the export — and resumed with --resume until it finishes; every finished run must end with
// model/model.safetensors and ledger.tsv byte-identical to an uninterrupted run's, and leave no
// temporary file behind. Some kills are followed by the damage a kill or a crash can leave (a torn
// last ledger row, a checkpoint folder missing a file): resume must say what it dropped or skipped.
//
// The ordinary suite kills 10 times; scripts/kill_test.sh runs it with more (docs/reliability.md).
// Environment: ZO_KILL_TEST_KILLS (default 10), ZO_KILL_TEST_SEED (default: from the clock; printed),
// ZO_KILL_TEST_REPORT (a file for the table of moments and outcomes).
#include "../test_util.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kData = std::string(ZO_SOURCE_DIR) + "/tests/data/";

std::vector<std::string> finetune(const fs::path& out, bool resume) {
  std::vector<std::string> args{zo::test::zo_binary(),
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
                                "40",
                                "--batch",
                                "4",
                                "--lr",
                                "1e-3",
                                "--checkpoint-every",
                                "3",
                                "--no-plots",
                                "--out",
                                out.string()};
  if (resume) args.push_back("--resume");
  return args;
}

pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::fflush(nullptr);  // the child's freopen must not write the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (std::freopen(log.c_str(), "w", stderr) == nullptr) ::_exit(126);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(126);
    zo::test::exec_or_exit(args);
  }
  return pid;
}

// Exit status, or 128 + signal; -1 while it runs (when !block).
int reap(pid_t pid, bool block) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, block ? 0 : WNOHANG);
  if (r == 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool has_entry(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().starts_with(prefix)) return true;
  return false;
}

// Temporary files of the atomic-write rule (".NAME.tmp.XXXXXX") in out/ and its subfolders, and
// leftover checkpoint folders.
std::vector<std::string> leftovers(const fs::path& out) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(out, ec)) {
    const std::string leaf = e.path().filename().string();
    if ((leaf.starts_with(".") && leaf.find(".tmp.") != std::string::npos) || leaf.starts_with(".tmp-step-") ||
        leaf.starts_with(".old-step-"))
      found.push_back(fs::relative(e.path(), out).string());
  }
  return found;
}

// Where the run was when it died, read from what it left.
std::string where_it_was(const fs::path& out) {
  const fs::path ckpt = out / "checkpoints";
  if (has_entry(ckpt, ".old-step-")) return "removing a checkpoint";
  if (has_entry(ckpt, ".tmp-step-")) return "writing a checkpoint";
  if (!fs::exists(out / "ledger.tsv")) return fs::exists(out) ? "creating the ledger" : "starting";
  const std::string ledger = zo::test::slurp(out / "ledger.tsv");
  if (!ledger.empty() && ledger.back() != '\n') return "appending a ledger row (torn)";
  if (fs::exists(out / "model")) return "exporting the model";
  if (!leftovers(out).empty()) return "writing a file";
  return "between writes";
}

std::int64_t ledger_rows(const std::string& text) {
  const auto lines = std::count(text.begin(), text.end(), '\n');
  return lines >= 2 ? lines - 2 : 0;
}

std::int64_t step_of(const std::string& name) { return std::stoll(name.substr(5)); }

// The newest checkpoint folder under out/checkpoints ("" when none).
fs::path newest_checkpoint(const fs::path& out) {
  fs::path best;
  std::int64_t best_step = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out / "checkpoints", ec)) {
    const std::string leaf = e.path().filename().string();
    if (leaf.starts_with("step-") && step_of(leaf) > best_step) {
      best_step = step_of(leaf);
      best = e.path();
    }
  }
  return best;
}

struct Moment {
  std::string how;        // the kill strategy
  std::int64_t delay_us;  // after its trigger
  std::string where;      // what the run was doing (where_it_was)
  std::string damage;     // what the test did to the folder after the kill
  std::string outcome;    // of the next start
};

TEST(KillTest, SigkillAtRandomMomentsThenResumeEndsByteIdenticalToAnUninterruptedRun) {
  const int kills = std::getenv("ZO_KILL_TEST_KILLS") ? std::atoi(std::getenv("ZO_KILL_TEST_KILLS")) : 10;
  const std::uint64_t seed = std::getenv("ZO_KILL_TEST_SEED")
                                 ? std::strtoull(std::getenv("ZO_KILL_TEST_SEED"), nullptr, 10)
                                 : std::uint64_t(Clock::now().time_since_epoch().count());
  std::printf("kill test: %d kills, ZO_KILL_TEST_SEED=%llu\n", kills, static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

  const fs::path dir = zo::test::fresh_dir("zo_kill_");
  const fs::path clean = dir / "clean";
  const auto t0 = Clock::now();
  ASSERT_EQ(reap(spawn(finetune(clean, false), dir / "clean.log"), true), 0) << zo::test::slurp(dir / "clean.log");
  const auto run_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  const std::string clean_model = zo::test::slurp(clean / "model" / "model.safetensors");
  const std::string clean_ledger = zo::test::slurp(clean / "ledger.tsv");
  ASSERT_GT(clean_model.size(), 100000u);
  ASSERT_EQ(ledger_rows(clean_ledger), 40);

  std::vector<Moment> moments;
  int killed = 0, finished = 0, starts = 0;
  for (int episode = 0; killed < kills; ++episode) {
    const fs::path out = dir / fmt::format("run-{}", episode);
    const int kills_here = int(uniform(1, 4));
    int kills_in_episode = 0;
    // What the next resume must say, while the state it reports is still there (a start killed
    // before it got to say it carries it to the next), and the moment that caused it.
    struct Expected {
      std::string note;
      std::function<bool()> still_there;
      std::size_t moment;
    };
    std::vector<Expected> expected;
    for (bool resume = false;; resume = true) {
      ASSERT_LT(starts, 20 * kills + 20) << "no progress";
      const fs::path log = dir / fmt::format("run-{}-{}.log", episode, starts++);
      const pid_t pid = spawn(finetune(out, resume), log);
      const bool kill_it = kills_in_episode < kills_here && killed < kills;
      int rc = -1;
      Moment m;
      if (kill_it) {
        // The trigger: a random time into the run, a new ledger row, a checkpoint write starting, or
        // the export starting; then a random delay in µs.
        const int how = int(uniform(0, 9));
        const auto start = Clock::now();
        const auto deadline = start + std::chrono::seconds(60);
        const auto poll = [&](auto&& ready) {
          while (!ready()) {
            if ((rc = reap(pid, false)) >= 0 || Clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
          return true;
        };
        bool armed = true;
        if (how <= 3) {
          m.how = "at a random time";
          m.delay_us = uniform(0, run_us);
        } else if (how <= 5) {
          m.how = "after a ledger row";
          const std::int64_t want = ledger_rows(zo::test::slurp(out / "ledger.tsv")) + uniform(1, 12);
          armed = poll([&] { return ledger_rows(zo::test::slurp(out / "ledger.tsv")) >= want; });
          m.delay_us = uniform(0, 3000);
        } else if (how <= 8) {
          m.how = "in a checkpoint write";
          const std::int64_t skip = uniform(0, 6);  // checkpoint writes to let pass first
          std::int64_t seen = 0;
          bool inside = false;
          armed = poll([&] {
            const bool now = has_entry(out / "checkpoints", ".tmp-step-");
            if (now && !inside && seen++ >= skip) return true;
            inside = now;
            return false;
          });
          m.delay_us = uniform(0, 4000);
        } else {
          m.how = "during the export";
          armed = poll([&] { return fs::exists(out / "model"); });
          m.delay_us = uniform(0, 20000);
        }
        if (armed && rc < 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(m.delay_us));
          ::kill(pid, SIGKILL);
        }
        rc = reap(pid, true);
      } else {
        rc = reap(pid, true);
      }
      const std::string text = zo::test::slurp(log);
      for (auto e = expected.begin(); e != expected.end();) {
        const bool said = text.find(e->note) != std::string::npos;
        if (!said && rc == 128 + SIGKILL && e->still_there()) {
          ++e;  // killed before it got to it: the next start must say it
          continue;
        }
        if (!said && rc != 128 + SIGKILL) ADD_FAILURE() << "resume did not say '" << e->note << "':\n" << text;
        moments[e->moment].outcome += said ? ", said so" : (rc == 128 + SIGKILL ? ", killed before saying so" : ", SILENT");
        e = expected.erase(e);
      }
      if (rc == 128 + SIGKILL) {
        ++killed;
        ++kills_in_episode;
        m.where = where_it_was(out);
        m.outcome = "resumed";
        // Damage a kill (or a crash of the machine) can leave, now and then.
        const std::int64_t roll = uniform(0, 99);
        const std::string ledger = zo::test::slurp(out / "ledger.tsv");
        const fs::path newest = newest_checkpoint(out);
        const std::int64_t newest_step = newest.empty() ? 0 : step_of(newest.filename().string());
        if (roll < 15 && ledger_rows(ledger) > newest_step && ledger.back() == '\n') {
          // A torn last row: the row after the newest checkpoint loses its tail.
          const std::size_t row_start = ledger.rfind('\n', ledger.size() - 2) + 1;
          const std::size_t cut = std::size_t(uniform(std::int64_t(row_start) + 1, std::int64_t(ledger.size()) - 1));
          fs::resize_file(out / "ledger.tsv", cut);
          m.damage = "torn last ledger row";
          expected.push_back({"dropped a truncated last row", [out] {
                                const std::string l = zo::test::slurp(out / "ledger.tsv");
                                return !l.empty() && l.back() != '\n';
                              },
                              moments.size()});
        } else if (roll >= 90 && !newest.empty()) {
          const char* files[] = {"params.safetensors", "optimizer.zosd", "state.json"};
          const std::string victim = files[uniform(0, 2)];
          fs::remove(newest / victim);
          m.damage = "checkpoint missing " + victim;
          expected.push_back({"skipping checkpoint " + newest.string(),
                              [newest, victim] { return fs::exists(newest) && !fs::exists(newest / victim); }, moments.size()});
        } else if (newest.empty()) {
          expected.push_back({"no checkpoint in", [out] { return newest_checkpoint(out).empty(); }, moments.size()});
        }
        moments.push_back(m);
        continue;
      }
      ASSERT_EQ(rc, 0) << "start " << starts << " of episode " << episode << " failed:\n" << text;
      if (kill_it) {
        m.where = "(finished first)";
        m.outcome = "not a kill";
      }
      ++finished;
      EXPECT_TRUE(zo::test::slurp(out / "model" / "model.safetensors") == clean_model) << "episode " << episode;
      EXPECT_EQ(zo::test::slurp(out / "ledger.tsv"), clean_ledger) << "episode " << episode;
      EXPECT_EQ(leftovers(out), std::vector<std::string>{}) << "episode " << episode;
      fs::remove_all(out);
      break;
    }
  }

  // The table: how many kills per trigger and per place, and the damage injected.
  std::map<std::string, int> by_how, by_where, by_damage;
  for (const Moment& m : moments) {
    if (m.outcome == "not a kill") continue;
    ++by_how[m.how];
    ++by_where[m.where];
    if (!m.damage.empty()) {
      const char* said = m.outcome.find("SILENT") != std::string::npos                       ? " (SILENT)"
                         : m.outcome.find("killed before saying so") != std::string::npos ? " (gone before a resume said so)"
                                                                                             : "";
      ++by_damage[m.damage + said];
    }
  }
  std::string report = fmt::format("kill test: seed {}, {} kills, {} runs finished byte-identical to the clean run, {} starts\n",
                                   seed, killed, finished, starts);
  const std::pair<const char*, const std::map<std::string, int>*> tables[] = {
      {"kills by trigger", &by_how}, {"what the run was doing (read from the files it left)", &by_where},
      {"damage added after the kill (resume said what it dropped or skipped)", &by_damage}};
  for (const auto& [title, table] : tables) {
    report += fmt::format("  {}:\n", title);
    for (const auto& [k, n] : *table) report += fmt::format("    {:<40} {:>5}\n", k, n);
  }
  std::fputs(report.c_str(), stdout);
  if (const char* path = std::getenv("ZO_KILL_TEST_REPORT")) {
    std::ofstream f(path);
    f << report << "\nhow\tdelay_us\twhere\tdamage\toutcome\n";
    for (const Moment& m : moments) f << m.how << '\t' << m.delay_us << '\t' << m.where << '\t' << m.damage << '\t' << m.outcome << '\n';
  }
  EXPECT_GE(killed, kills);
  EXPECT_GE(finished, 1);
  fs::remove_all(dir);
}

}  // namespace
