// `zo bench synthetic`: zo::tasks::bench_synthetic (include/zo/tasks/synthetic_bench.hpp) with its
// options as flags, a progress line, and the tables printed at the end. See docs/synthetic.md.
#include "command.hpp"
#include "option_binding.hpp"

#include "zo/tasks/synthetic_bench.hpp"
#include "zo/util/progress.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

namespace zo::app {
namespace {

std::string git_commit() {
  std::string cmd = fmt::format("git -C '{}' describe --always --dirty --abbrev=12 2>/dev/null", ZO_SOURCE_DIR);
  std::FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return "";
  char buf[128] = {};
  std::string out;
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out;
  std::size_t start = 0;
  while (start < raw.size()) {
    std::size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    std::string arg = raw.substr(start, end - start);
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t'\"$\\") == std::string::npos;
    out += plain ? arg : "'" + arg + "'";
    start = end + 1;
  }
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void run_synthetic(const OptionBinding<tasks::SyntheticBenchOptions>& binding) {
  tasks::SyntheticBenchOptions o;
  binding.apply(o);
  OptionBinding<tasks::SyntheticBenchOptions>::usage_errors([&] { o.validate(); });
  std::optional<Progress> progress;
  tasks::SyntheticBenchHooks hooks;
  hooks.provenance = {{"command", command_line()}, {"git_commit", git_commit()}, {"date_utc", utc_now()}};
  hooks.progress = [&](std::int64_t done, std::int64_t total, const std::string& status) {
    if (!progress)
      progress.emplace(ProgressOptions{.label = fmt::format("bench synthetic {} d={}", o.function, o.dim),
                                       .total = total,
                                       .unit = "steps",
                                       .stream = stderr,
                                       .tty = std::nullopt,
                                       .tty_interval_s = 0.2,
                                       .log_interval_s = 15.0});
    if (done < total) progress->update(done, status);
    else progress->finish(status);
  };
  const tasks::SyntheticBenchResult r = tasks::bench_synthetic(o, hooks);
  std::fputs(r.tables.c_str(), stdout);
  std::fputs(fmt::format("\nwrote {0}/curves.csv, {0}/summary.json, {0}/curves.png, {0}/table.md\n", o.out).c_str(), stdout);
  std::fflush(stdout);
}

void setup_bench(CLI::App& bench) {
  bench.require_subcommand(1);
  CLI::App* sub = bench.add_subcommand(
      "synthetic",
      "Compare ZO optimizers on a synthetic function (quadratic, rosenbrock, levy, ackley) at an equal query budget; "
      "writes curves.csv, summary.json, curves.png and table.md to --out");
  auto binding = std::make_shared<OptionBinding<tasks::SyntheticBenchOptions>>(*sub, tasks::synthetic_bench_option_list());
  sub->callback([binding] { run_synthetic(*binding); });
}

const bool registered = register_command(
    {"bench", "Benchmarks: `zo bench synthetic` compares optimizers on synthetic functions", setup_bench});

}  // namespace
}  // namespace zo::app
