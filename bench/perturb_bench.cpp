// Perturbation passes against a plain read+write loop over the same bytes (docs/design.md: "perturbation
// kernels at memory speed"). 24 float32 matrices of 2048 × 2035 (1.0e8 params, 400 MB), one block
// each. Each round runs every case once (Google Benchmark, fixed iterations); ratios are taken
// within a round so load from other processes hits both sides alike, and the table reports the
// median over rounds. Writes bench/results/perturb.csv.
//
//   OMP_NUM_THREADS=2 build/bench/perturb_bench [--rounds=5] [--rows=2048] [--csv=path]
#include "zo/core/kernels.hpp"
#include "zo/core/random.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr int kBlocks = 24;
constexpr std::int64_t kCols = 2035;

struct Setup {
  std::int64_t rows = 2048;
  std::vector<float> storage;
  zo::ParamSet set;
  std::int64_t step = 0;  // advances so every pass draws a new seed / block

  void init() {
    const std::int64_t per = rows * kCols;
    storage.assign(std::size_t(per * kBlocks), 0.0f);
    // First touch in parallel, with the same static schedule the passes use.
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < std::int64_t(storage.size()); ++i) storage[std::size_t(i)] = 1e-3f * float(i % 1000);
    for (int b = 0; b < kBlocks; ++b) {
      set.add(fmt::format("layers.{}.w", b), zo::DType::f32, {rows, kCols}, storage.data() + b * per);
    }
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// CPU seconds of the whole process (all threads), for the load-independent reading of a case.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The peer: one read and one write of every float, the same traffic as a perturbation pass.
void copy_loop(benchmark::State& state) {
  float* x = setup().storage.data();
  const auto n = std::int64_t(setup().storage.size());
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] + 1e-7f;
    benchmark::ClobberMemory();
  }
  state.counters["cpu_s"] = (process_cpu_seconds() - cpu0) / double(state.iterations());
  state.SetBytesProcessed(state.iterations() * n * 8);
}

void perturb_pass(benchmark::State& state, zo::DirectionOptions options) {
  Setup& s = setup();
  const zo::Direction direction(options, s.set);
  std::int64_t moved = 0;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    const std::int64_t step = s.step++;
    const auto blocks = direction.active_blocks(7, step);
    const zo::Draw draw = direction.draw(s.set, blocks, zo::derive_seed(7, std::uint64_t(step)));
    zo::perturb(s.set, direction, blocks, draw, (step % 2 ? -1e-3f : 1e-3f));
    moved += direction.moving_numel(s.set, blocks);
  }
  state.counters["cpu_s"] = (process_cpu_seconds() - cpu0) / double(state.iterations());
  state.SetBytesProcessed(moved * 8);
}

struct Case {
  std::string name;
  std::string what;
  std::function<void(benchmark::State&)> fn;
};

std::vector<Case> cases() {
  zo::DirectionOptions dense;
  zo::DirectionOptions bcd;
  bcd.order = zo::BlockOrder::cyclic;
  zo::DirectionOptions sparse;
  sparse.kind = zo::DirectionKind::sparse;
  sparse.keep = 0.1;
  zo::DirectionOptions low_rank;
  low_rank.kind = zo::DirectionKind::low_rank;
  low_rank.rank = 4;
  return {
      {"copy", "plain read+write loop, x[i] += c", copy_loop},
      {"dense", "perturb, dense gaussian", [=](benchmark::State& st) { perturb_pass(st, dense); }},
      {"bcd_1_of_24", "perturb, one of 24 blocks (cyclic)", [=](benchmark::State& st) { perturb_pass(st, bcd); }},
      {"sparse_0.1", "perturb, sparse keep 0.1", [=](benchmark::State& st) { perturb_pass(st, sparse); }},
      {"low_rank_4", "perturb, low-rank r = 4", [=](benchmark::State& st) { perturb_pass(st, low_rank); }},
  };
}

class Collect : public benchmark::BenchmarkReporter {
 public:
  std::map<std::string, double> seconds;      // wall, per iteration
  std::map<std::string, double> cpu_seconds;  // all threads, per iteration
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      seconds[run.run_name.function_name] = run.real_accumulated_time / double(run.iterations);
      cpu_seconds[run.run_name.function_name] = run.counters.at("cpu_s").value;
    }
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  std::string csv = std::string(ZO_SOURCE_DIR) + "/bench/results/perturb.csv";
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--rounds=", 0) == 0) {
      rounds = std::stoi(arg.substr(9));
    } else if (arg.rfind("--rows=", 0) == 0) {
      setup().rows = std::stoll(arg.substr(7));
    } else if (arg.rfind("--csv=", 0) == 0) {
      csv = arg.substr(6);
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = int(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  setup().init();
  const auto all = cases();
  for (const Case& c : all) {
    benchmark::RegisterBenchmark(c.name.c_str(), c.fn)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  const std::int64_t n = std::int64_t(setup().storage.size());
  std::fprintf(stderr, "%lld float32 params in %d blocks, %d threads, %d rounds\n", static_cast<long long>(n), kBlocks,
               omp_get_max_threads(), rounds);

  std::map<std::string, std::vector<double>> times, cpu_times, ratios;
  for (int r = 0; r < rounds; ++r) {
    Collect collect;
    benchmark::RunSpecifiedBenchmarks(&collect);
    const double copy = collect.seconds.at("copy");
    const double dense = collect.seconds.at("dense");
    const double copy_cpu = collect.cpu_seconds.at("copy");
    for (const Case& c : all) {
      const double t = collect.seconds.at(c.name);
      times[c.name].push_back(t);
      cpu_times[c.name].push_back(collect.cpu_seconds.at(c.name));
      ratios[c.name + "/copy_cpu"].push_back(collect.cpu_seconds.at(c.name) / copy_cpu);
      ratios[c.name + "/copy"].push_back(t / copy);
      ratios[c.name + "/dense"].push_back(t / dense);
    }
  }

  std::printf("\n%-12s %-38s %10s %8s %10s %11s %10s %10s %12s\n", "case", "what", "median ms", "GB/s",
              "time/copy", "time/dense", "copy spd×", "cpu ms", "cpu/copy cpu");
  std::ofstream out(csv);
  out << "case,what,params,threads,rounds,median_ms,min_ms,max_ms,time_over_copy,time_over_dense,speed_vs_copy,"
         "median_cpu_ms,cpu_over_copy_cpu\n";
  for (const Case& c : all) {
    const double t = median(times[c.name]);
    const auto [lo, hi] = std::minmax_element(times[c.name].begin(), times[c.name].end());
    const double rc = median(ratios[c.name + "/copy"]);
    const double rd = median(ratios[c.name + "/dense"]);
    const double cpu = median(cpu_times[c.name]);
    const double rcpu = median(ratios[c.name + "/copy_cpu"]);
    const double gbs = double(n) * 8 / t / 1e9;
    std::printf("%-12s %-38s %10.1f %8.2f %10.3f %11.3f %10.3f %10.1f %12.3f\n", c.name.c_str(), c.what.c_str(), t * 1e3,
                gbs, rc, rd, 1.0 / rc, cpu * 1e3, rcpu);
    out << fmt::format("{},\"{}\",{},{},{},{:.3f},{:.3f},{:.3f},{:.4f},{:.4f},{:.4f},{:.3f},{:.4f}\n", c.name, c.what, n,
                       omp_get_max_threads(), rounds, t * 1e3, *lo * 1e3, *hi * 1e3, rc, rd, 1.0 / rc, cpu * 1e3, rcpu);
  }
  std::printf("\nRatios are medians over rounds of per-round ratios. GB/s counts 8 bytes (read + write) per param\n"
              "of the whole set for every case. cpu = process CPU time of all threads (load-independent reading).\n");
  std::printf("wrote %s\n", csv.c_str());
  benchmark::Shutdown();
  return 0;
}
