// Passes over the parameters against a plain read+write loop over the same bytes (docs/design.md:
// "perturbation kernels at memory speed"). 24 float32 matrices of rows × 2035, one block each; the
// default rows = 2560 gives 1.25e8 params (500 MB). Cases: the copy loop; perturb passes with dense
// Gaussian, dense Rademacher, sparse keep 0.01 / 0.1 / 0.5 (granule 1 and 16), one block of 24 and low-rank r = 4
// directions; and whole ZO-SGD steps (central, q = 1, a constant loss so only the passes count) with
// dense Rademacher z, restore folded into the update (3 passes) and restore as its own pass (4).
// Each round runs every case (Google Benchmark, fixed iterations); ratios are taken within a round
// so load from other processes hits both sides alike, and the table reports the median over rounds.
// Prints a table and writes CSV (default bench/results/passes/perturb.csv).
//
// The recorded run, on a quiet machine:
//   OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 build/bench/perturb_bench --rounds=15 --rows=2560 --csv=bench/results/passes/perturb.csv
// A quick check that it works: build/bench/perturb_bench --rounds=1 --rows=64 --csv=/tmp/perturb.csv
#include "zo/core/kernels.hpp"
#include "zo/core/random.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr int kBlocks = 24;
constexpr std::int64_t kCols = 2035;

struct Setup {
  std::int64_t rows = 2560;
  std::vector<float> storage;
  float* data = nullptr;  // the params: storage from its first 64-byte boundary, as a model's weights are aligned
  std::int64_t numel = 0;
  zo::ParamSet set;
  std::int64_t step = 0;  // advances so every pass draws a new seed / block

  void init() {
    const std::int64_t per = rows * kCols;
    numel = per * kBlocks;
    storage.assign(std::size_t(numel + 16), 0.0f);
    data = storage.data() + (16 - (reinterpret_cast<std::uintptr_t>(storage.data()) / sizeof(float)) % 16) % 16;
    // First touch in parallel, with the same static schedule the passes use.
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < numel; ++i) data[i] = 1e-3f * float(i % 1000);
    for (int b = 0; b < kBlocks; ++b) {
      set.add(fmt::format("layers.{}.w", b), zo::DType::f32, {rows, kCols}, data + b * per);
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
  float* x = setup().data;
  const std::int64_t n = setup().numel;
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

// One ZO-SGD step, central difference, one probe, loss constant (ρ = 0: θ moves by the rounding of
// ±εz only, and the passes are all that is timed): +εz, −2εz, then restore and update fused
// (Restore::in_update, 3 passes) or restore then update (Restore::now, 4 passes).
void step_passes(benchmark::State& state, zo::DirectionOptions options, zo::Restore restore) {
  Setup& s = setup();
  const zo::Direction direction(options, s.set);
  const zo::Estimator estimator(zo::EstimatorOptions{.eps = 1e-3});
  auto optimizer = zo::Optimizer::create({.kind = zo::OptimizerKind::zo_sgd, .lr = 1e-3});
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    const std::int64_t step = s.step++;
    const zo::Estimate e = estimator.estimate([] { return 1.0; }, s.set, direction, 7, step, restore);
    optimizer->step(s.set, direction, e, 1e-3);
  }
  state.counters["cpu_s"] = (process_cpu_seconds() - cpu0) / double(state.iterations());
  state.SetBytesProcessed(state.iterations() * s.numel * 8);
}

struct Case {
  std::string name;
  std::string what;
  std::function<void(benchmark::State&)> fn;
};

std::vector<Case> cases() {
  zo::DirectionOptions dense;
  zo::DirectionOptions rademacher;
  rademacher.distribution = zo::Distribution::rademacher;
  zo::DirectionOptions bcd;
  bcd.order = zo::BlockOrder::cyclic;
  const auto sparse = [](double keep, int granule) {
    zo::DirectionOptions o;
    o.kind = zo::DirectionKind::sparse;
    o.keep = keep;
    o.granule = granule;
    return o;
  };
  zo::DirectionOptions low_rank;
  low_rank.kind = zo::DirectionKind::low_rank;
  low_rank.rank = 4;
  std::vector<Case> out = {
      {"copy", "plain read+write loop, x[i] += c", copy_loop},
      {"dense", "perturb, dense gaussian", [=](benchmark::State& st) { perturb_pass(st, dense); }},
      {"dense_rademacher", "perturb, dense rademacher", [=](benchmark::State& st) { perturb_pass(st, rademacher); }},
  };
  for (const int granule : {1, 16}) {
    for (const double keep : {0.01, 0.1, 0.5}) {
      out.push_back({granule == 1 ? fmt::format("sparse_{}", keep) : fmt::format("sparse_{}_g{}", keep, granule),
                     fmt::format("perturb, sparse keep {} granule {}", keep, granule),
                     [=](benchmark::State& st) { perturb_pass(st, sparse(keep, granule)); }});
    }
  }
  out.push_back({"bcd_1_of_24", "perturb, one of 24 blocks (cyclic)", [=](benchmark::State& st) { perturb_pass(st, bcd); }});
  out.push_back({"low_rank_4", "perturb, low-rank r = 4", [=](benchmark::State& st) { perturb_pass(st, low_rank); }});
  out.push_back({"step_3_pass", "zo-sgd step, rademacher, restore fused",
                 [=](benchmark::State& st) { step_passes(st, rademacher, zo::Restore::in_update); }});
  out.push_back({"step_4_pass", "zo-sgd step, rademacher, restore apart",
                 [=](benchmark::State& st) { step_passes(st, rademacher, zo::Restore::now); }});
  return out;
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
  std::string csv = std::string(ZO_SOURCE_DIR) + "/bench/results/passes/perturb.csv";
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
  const std::int64_t n = setup().numel;
  std::fprintf(stderr, "%lld float32 params in %d blocks, %d threads, %d rounds\n", static_cast<long long>(n), kBlocks,
               omp_get_max_threads(), rounds);

  std::map<std::string, std::vector<double>> times, cpu_times, ratios;
  for (int r = 0; r < rounds; ++r) {
    Collect collect;
    benchmark::RunSpecifiedBenchmarks(&collect);
    const double copy = collect.seconds.at("copy");
    const double dense = collect.seconds.at("dense");
    const double dense_rademacher = collect.seconds.at("dense_rademacher");
    const double copy_cpu = collect.cpu_seconds.at("copy");
    for (const Case& c : all) {
      const double t = collect.seconds.at(c.name);
      times[c.name].push_back(t);
      cpu_times[c.name].push_back(collect.cpu_seconds.at(c.name));
      ratios[c.name + "/copy_cpu"].push_back(collect.cpu_seconds.at(c.name) / copy_cpu);
      ratios[c.name + "/copy"].push_back(t / copy);
      ratios[c.name + "/dense"].push_back(t / dense);
      ratios[c.name + "/dense_rademacher"].push_back(t / dense_rademacher);
    }
  }

  std::printf("\n%-17s %-40s %10s %8s %10s %11s %10s %10s %10s %12s\n", "case", "what", "median ms", "GB/s",
              "time/copy", "time/dense", "time/rad", "copy spd×", "cpu ms", "cpu/copy cpu");
  const std::filesystem::path csv_path(csv);
  if (csv_path.has_parent_path()) std::filesystem::create_directories(csv_path.parent_path());
  std::ofstream out(csv);
  out << "case,what,params,threads,rounds,median_ms,min_ms,max_ms,gb_per_s,time_over_copy,time_over_dense,"
         "time_over_dense_rademacher,speed_vs_copy,median_cpu_ms,cpu_over_copy_cpu\n";
  for (const Case& c : all) {
    const double t = median(times[c.name]);
    const auto [lo, hi] = std::minmax_element(times[c.name].begin(), times[c.name].end());
    const double rc = median(ratios[c.name + "/copy"]);
    const double rd = median(ratios[c.name + "/dense"]);
    const double rr = median(ratios[c.name + "/dense_rademacher"]);
    const double cpu = median(cpu_times[c.name]);
    const double rcpu = median(ratios[c.name + "/copy_cpu"]);
    const double gbs = double(n) * 8 / t / 1e9;
    std::printf("%-17s %-40s %10.1f %8.2f %10.3f %11.3f %10.3f %10.3f %10.1f %12.3f\n", c.name.c_str(), c.what.c_str(),
                t * 1e3, gbs, rc, rd, rr, 1.0 / rc, cpu * 1e3, rcpu);
    out << fmt::format("{},\"{}\",{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.4f},{:.4f},{:.4f},{:.4f},{:.3f},{:.4f}\n", c.name,
                       c.what, n, omp_get_max_threads(), rounds, t * 1e3, *lo * 1e3, *hi * 1e3, gbs, rc, rd, rr, 1.0 / rc,
                       cpu * 1e3, rcpu);
  }
  std::printf("\nRatios are medians over rounds of per-round ratios (time/rad: to the dense rademacher pass). GB/s\n"
              "counts 8 bytes (read + write) per param of the whole set for every case, also the steps (which make\n"
              "3 or 4 passes). cpu = process CPU time of all threads (load-independent reading).\n");
  std::printf("wrote %s\n", csv.c_str());
  benchmark::Shutdown();
  return 0;
}
