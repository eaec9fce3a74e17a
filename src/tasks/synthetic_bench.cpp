// zo::tasks::bench_synthetic (synthetic_bench.hpp): the runs in parallel, one thread each, then the
// reports. Every run gets the same seed, so every optimizer sees the same directions.
#include "zo/tasks/synthetic_bench.hpp"

#include "zo/util/csv.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/plot.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace zo::tasks {

namespace fs = std::filesystem;

const OptionList<SyntheticBenchOptions>& synthetic_bench_option_list() {
  static const OptionList<SyntheticBenchOptions> list = [] {
    using O = SyntheticBenchOptions;
    OptionList<O> l;
    l.add("function", &O::function, "quadratic | rosenbrock | levy | ackley")
        .add("dim", &O::dim, "dimension d (>= 1; rosenbrock >= 2)")
        .add("optimizer", &O::optimizers,
             "comma-separated optimizers: zo-sgd, zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm, r-adazo")
        .add("baseline", &O::baseline, "optimizer the ratio column divides by (default: the first listed)")
        .add("steps", &O::steps, "steps per run (>= 1); every run gets the same number of queries")
        .add("seed", &O::seed, "run seed: directions (and noise) derive from it; the same for every run")
        .add("out", &O::out, "output folder (created if missing)")
        .add("lr", &O::lr, "one learning rate η for every optimizer (default 1e-3)")
        .add("lr-grid", &O::lr_grid,
             "comma-separated η values: every optimizer runs each; reports equal-η rows and each optimizer's best η")
        .add("queries", &O::queries, "q: probe directions per step (a central step costs 2q queries)")
        .add("eps", &O::eps, "ε: perturbation radius (> 0)")
        .add("direction", &O::direction, "z distribution: gaussian | rademacher | sphere")
        .add("difference", &O::difference, "central (2 queries a probe) | forward (1 a probe + 1 a step)")
        .add("noise", &O::noise, "σ of Gaussian noise added to every query (>= 0); logged losses stay noiseless")
        .add("condition", &O::condition, "quadratic: largest / smallest curvature (>= 1)")
        .add("beta1", &O::beta1, "β₁ of zo-adamm and r-adazo, in [0, 1)")
        .add("beta2", &O::beta2, "β₂ of zo-rmsprop, zo-adamm and r-adazo, in [0, 1)")
        .add("nan-policy", &O::nan_policy, "on a non-finite loss: stop the run | skip the step")
        .add("log-every", &O::log_every, "log the noiseless loss every n steps (0 = about 500 points a run)")
        .add("diverge-factor", &O::diverge_factor,
             "stop a run once its logged loss exceeds this × max(|f(x0)|, 1); reported as diverged (0 = off)")
        .add("threads", &O::threads, "runs in parallel, one thread each; a single run uses them for its kernels (0 = all cores)");
    return l;
  }();
  return list;
}

namespace {

constexpr double kDefaultLr = 1e-3;

template <class T, class F>
T parse_name(const std::string& text, std::string_view option, F from_string) {
  try {
    return from_string(text);
  } catch (const Error& e) {
    fail("option '{}' = '{}': {}", option, text, e.what());
  }
}

struct Plan {
  tasks::SyntheticOptions synthetic;
  std::vector<OptimizerKind> optimizers;
  std::size_t baseline = 0;  // index into optimizers
  std::vector<double> lrs;   // ascending, distinct
  bool grid = false;         // from --lr-grid
  MinimizeOptions base;      // everything but the optimizer kind and lr
  std::int64_t log_every = 1;
  double diverge_factor = 0.0;  // 0 = never stop a run for divergence
  int threads = 1;
};

Plan make_plan(const SyntheticBenchOptions& a) {
  Plan p;
  p.synthetic.function = parse_name<SyntheticFunction>(a.function, "function", synthetic_function_from_string);
  if (a.dim < 1) fail("option 'dim' = {}: must be >= 1", a.dim);
  if (p.synthetic.function == SyntheticFunction::rosenbrock && a.dim < 2) fail("option 'dim' = {}: rosenbrock needs >= 2", a.dim);
  p.synthetic.dim = a.dim;
  if (!(std::isfinite(a.condition) && a.condition >= 1)) fail("option 'condition' = {}: must be finite and >= 1", a.condition);
  p.synthetic.condition = a.condition;
  if (!(std::isfinite(a.noise) && a.noise >= 0)) fail("option 'noise' = {}: must be finite and >= 0", a.noise);
  p.synthetic.noise = a.noise;
  p.synthetic.seed = a.seed;

  if (a.optimizers.empty()) fail("option 'optimizer': no optimizer given");
  for (const std::string& name : a.optimizers) {
    OptimizerKind kind = parse_name<OptimizerKind>(name, "optimizer", optimizer_kind_from_string);
    if (std::find(p.optimizers.begin(), p.optimizers.end(), kind) != p.optimizers.end())
      fail("option 'optimizer' = '{}': '{}' is listed twice", fmt::join(a.optimizers, ","), name);
    p.optimizers.push_back(kind);
  }
  if (!a.baseline.empty()) {
    OptimizerKind kind = parse_name<OptimizerKind>(a.baseline, "baseline", optimizer_kind_from_string);
    auto it = std::find(p.optimizers.begin(), p.optimizers.end(), kind);
    if (it == p.optimizers.end())
      fail("option 'baseline' = '{}': not among option 'optimizer' = '{}'", a.baseline, fmt::join(a.optimizers, ","));
    p.baseline = static_cast<std::size_t>(it - p.optimizers.begin());
  }

  if (a.steps < 1) fail("option 'steps' = {}: must be >= 1", a.steps);
  if (a.lr && !a.lr_grid.empty()) fail("option 'lr' and option 'lr-grid' exclude each other: give one");
  if (!a.lr_grid.empty()) {
    for (double lr : a.lr_grid)
      if (!(std::isfinite(lr) && lr > 0)) fail("option 'lr-grid' = '{}': {} must be finite and > 0", fmt::join(a.lr_grid, ","), lr);
    p.lrs = a.lr_grid;
    std::sort(p.lrs.begin(), p.lrs.end());
    if (std::adjacent_find(p.lrs.begin(), p.lrs.end()) != p.lrs.end())
      fail("option 'lr-grid' = '{}': a learning rate is listed twice", fmt::join(a.lr_grid, ","));
    p.grid = true;
  } else {
    double lr = a.lr.value_or(kDefaultLr);
    if (!(std::isfinite(lr) && lr > 0)) fail("option 'lr' = {}: must be finite and > 0", lr);
    p.lrs = {lr};
  }
  if (a.queries < 1) fail("option 'queries' = {}: must be >= 1", a.queries);
  if (!(std::isfinite(a.eps) && a.eps > 0)) fail("option 'eps' = {}: must be finite and > 0", a.eps);
  if (!(a.beta1 >= 0 && a.beta1 < 1)) fail("option 'beta1' = {}: must be in [0, 1)", a.beta1);
  if (!(a.beta2 >= 0 && a.beta2 < 1)) fail("option 'beta2' = {}: must be in [0, 1)", a.beta2);
  if (a.log_every < 0) fail("option 'log-every' = {}: must be >= 0 (0 = about 500 points a run)", a.log_every);
  if (!(std::isfinite(a.diverge_factor) && (a.diverge_factor == 0 || a.diverge_factor > 1)))
    fail("option 'diverge-factor' = {}: must be 0 (off) or a finite number > 1", a.diverge_factor);
  p.diverge_factor = a.diverge_factor;
  if (a.threads < 0) fail("option 'threads' = {}: must be >= 0 (0 = all cores)", a.threads);
  if (a.out.empty()) fail("option 'out': required (the output folder)");

  p.base.max_steps = a.steps;
  p.base.seed = a.seed;
  p.base.direction.distribution = parse_name<Distribution>(a.direction, "direction", distribution_from_string);
  p.base.estimator.queries = a.queries;
  p.base.estimator.eps = a.eps;
  p.base.estimator.difference = parse_name<Difference>(a.difference, "difference", difference_from_string);
  p.base.optimizer.beta1 = a.beta1;
  p.base.optimizer.beta2 = a.beta2;
  p.base.nan_policy = parse_name<NanPolicy>(a.nan_policy, "nan-policy", nan_policy_from_string);
  p.log_every = a.log_every > 0 ? a.log_every : std::max<std::int64_t>(1, a.steps / 500);
  p.threads = a.threads > 0 ? a.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return p;
}

using Point = SyntheticPoint;
using Run = SyntheticRun;

// A run's outcome in words: the minimize termination, or "diverged".
std::string termination(const Run& r) { return r.diverged ? "diverged" : std::string(to_string(r.summary.termination)); }
// Runs that can be an optimizer's best: finite and not stopped for divergence.
bool usable(const Run& r) { return std::isfinite(r.final_loss) && !r.diverged; }

struct Shared {
  std::atomic<std::int64_t> steps_done{0};
  std::atomic<std::size_t> runs_done{0};
  std::mutex mutex;
  std::condition_variable wake;
  std::string status;
};

void execute(const Plan& plan, Run& run, Shared& shared) {
  Synthetic objective(plan.synthetic);
  std::vector<float> x = objective.x0();
  run.initial_loss = objective.value(x);
  run.curve.push_back({0, 0, run.initial_loss});
  StepInfo last{};
  MinimizeOptions options = plan.base;
  options.optimizer.kind = run.optimizer;
  options.optimizer.lr = run.lr;
  options.callbacks.push_back([&](const StepInfo& info) {
    last = info;
    shared.steps_done.fetch_add(1, std::memory_order_relaxed);
    if (info.step % plan.log_every == 0) {
      double loss = objective.value(x);
      run.curve.push_back({info.step, info.evaluations, loss});
      if (plan.diverge_factor > 0 && loss > plan.diverge_factor * std::max(std::fabs(run.initial_loss), 1.0)) {
        run.diverged = true;
        return false;
      }
      if (info.step % (plan.log_every * 20) == 0) {
        std::lock_guard lock(shared.mutex);
        shared.status = fmt::format("{} lr {:g}: loss {:.4g}", to_string(run.optimizer), run.lr, loss);
      }
    }
    return true;
  });
  run.summary = minimize(objective, x, options);
  run.final_loss = objective.value(x);
  if (last.step > run.curve.back().step) run.curve.push_back({last.step, last.evaluations, run.final_loss});
  // A run that stopped early leaves its remaining steps uncounted; count them so the progress ends at 100%.
  shared.steps_done.fetch_add(plan.base.max_steps - last.step, std::memory_order_relaxed);
}

using ProgressFn = std::function<void(std::int64_t, std::int64_t, const std::string&)>;

std::vector<Run> run_all(const Plan& plan, const ProgressFn& progress) {
  std::vector<Run> runs;
  for (double lr : plan.lrs)
    for (OptimizerKind kind : plan.optimizers) runs.push_back({.optimizer = kind, .lr = lr});

  const int workers = std::min<int>(plan.threads, static_cast<int>(runs.size()));
  const int inner = std::max(1, plan.threads / workers);
  const std::int64_t total = plan.base.max_steps * static_cast<std::int64_t>(runs.size());
  Shared shared;
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(runs.size());
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      omp_set_num_threads(inner);  // this thread's OpenMP team size for the kernels of its runs
      for (std::size_t i; (i = next.fetch_add(1)) < runs.size();) {
        try {
          execute(plan, runs[i], shared);
        } catch (...) {
          errors[i] = std::current_exception();
        }
        shared.runs_done.fetch_add(1);
        shared.wake.notify_all();
      }
    });
  }
  {
    std::unique_lock lock(shared.mutex);
    while (shared.runs_done.load() < runs.size()) {
      std::string status = fmt::format("runs {}/{}  {}", shared.runs_done.load(), runs.size(), shared.status);
      lock.unlock();
      if (progress) progress(shared.steps_done.load(), total, status);
      lock.lock();
      shared.wake.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
  for (auto& t : pool) t.join();
  if (progress) progress(total, total, fmt::format("runs {}/{}", runs.size(), runs.size()));
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return runs;
}

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : format_number(v); }

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(format_number(v)); }

struct Best {
  std::optional<std::size_t> run;  // index into runs; none when every run of the optimizer ended non-finite
  std::string edge;                // "", "low" or "high": the best η is the grid's smallest / largest
};

std::vector<Best> best_per_optimizer(const Plan& plan, const std::vector<Run>& runs) {
  std::vector<Best> best(plan.optimizers.size());
  for (std::size_t o = 0; o < plan.optimizers.size(); ++o) {
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].optimizer != plan.optimizers[o] || !usable(runs[i])) continue;
      if (!best[o].run || runs[i].final_loss < runs[*best[o].run].final_loss) best[o].run = i;
    }
    if (best[o].run && plan.grid && plan.lrs.size() > 1) {
      double lr = runs[*best[o].run].lr;
      if (lr == plan.lrs.front()) best[o].edge = "low";
      if (lr == plan.lrs.back()) best[o].edge = "high";
    }
  }
  return best;
}

std::string markdown_tables(const Plan& plan, const std::vector<Run>& runs, const std::vector<Best>& best) {
  const auto& s = plan.synthetic;
  std::int64_t queries = 0;
  for (const Run& r : runs) queries = std::max(queries, r.summary.evaluations);
  std::string out = fmt::format("{} d={}: final noiseless loss after {} steps (≤ {} queries a run), f(x0) = {}\n\n",
                                to_string(s.function), s.dim, plan.base.max_steps, queries, num(runs.front().initial_loss));
  const std::string& base_name = std::string(to_string(plan.optimizers[plan.baseline]));
  out += "Equal η: each column one optimizer, each row one η (best of the row in **bold**).\n\n| η |";
  for (auto k : plan.optimizers) out += fmt::format(" {} |", to_string(k));
  out += "\n|---|";
  for (std::size_t o = 0; o < plan.optimizers.size(); ++o) out += "---|";
  out += "\n";
  for (double lr : plan.lrs) {
    out += fmt::format("| {:g} |", lr);
    double row_best = INFINITY;
    for (const Run& r : runs)
      if (r.lr == lr && usable(r)) row_best = std::min(row_best, r.final_loss);
    for (auto k : plan.optimizers)
      for (const Run& r : runs)
        if (r.lr == lr && r.optimizer == k) {
          std::string cell = num(r.final_loss);
          if (r.diverged) cell = fmt::format("diverged (step {})", r.summary.steps);
          else if (r.summary.termination == Termination::non_finite_loss) cell += fmt::format(" (non-finite loss, step {})", r.summary.steps);
          out += r.final_loss == row_best ? fmt::format(" **{}** |", cell) : fmt::format(" {} |", cell);
        }
    out += "\n";
  }
  out += fmt::format("\nBest η per optimizer (by final loss; ratio = final loss / {}'s at its best η).\n\n", base_name);
  out += "| optimizer | best η | final loss | ratio | queries | seconds | note |\n|---|---|---|---|---|---|---|\n";
  const std::optional<std::size_t> base_run = best[plan.baseline].run;
  for (std::size_t o = 0; o < plan.optimizers.size(); ++o) {
    if (!best[o].run) {
      out += fmt::format("| {} | – | – | – | – | – | every η diverged or ended non-finite |\n", to_string(plan.optimizers[o]));
      continue;
    }
    const Run& r = runs[*best[o].run];
    std::string ratio = base_run && runs[*base_run].final_loss > 0
                            ? fmt::format("{:.3g}", r.final_loss / runs[*base_run].final_loss)
                            : "–";
    std::string note;
    if (!plan.grid || plan.lrs.size() == 1) note = "one η given";
    else if (!best[o].edge.empty()) note = fmt::format("at the grid's {} edge: widen the grid", best[o].edge);
    out += fmt::format("| {} | {:g} | {} | {} | {} | {:.2f} | {} |\n", to_string(r.optimizer), r.lr, num(r.final_loss), ratio,
                       r.summary.evaluations, r.summary.seconds, note);
  }
  return out;
}

void write_reports(const Plan& plan, const SyntheticBenchOptions& args, const nlohmann::json& provenance,
                   SyntheticBenchResult& result) {
  const std::vector<Run>& runs = result.runs;
  const fs::path dir = args.out;
  const std::vector<Best> best = best_per_optimizer(plan, runs);

  CsvTable csv({"optimizer", "lr", "step", "queries", "loss"});
  for (const Run& r : runs)
    for (const Point& p : r.curve)
      csv.add_row({std::string(to_string(r.optimizer)), format_number(r.lr), std::to_string(p.step), std::to_string(p.queries),
                   format_number(p.loss)});
  csv.save(dir / "curves.csv");

  nlohmann::json j = provenance.is_object() ? provenance : nlohmann::json::object();
  j["config"] = {{"function", to_string(plan.synthetic.function)},
                 {"dim", plan.synthetic.dim},
                 {"condition", plan.synthetic.condition},
                 {"noise", plan.synthetic.noise},
                 {"steps", plan.base.max_steps},
                 {"seed", plan.base.seed},
                 {"queries_per_step", plan.base.estimator.queries},
                 {"eps", plan.base.estimator.eps},
                 {"difference", to_string(plan.base.estimator.difference)},
                 {"direction", to_string(plan.base.direction.distribution)},
                 {"beta1", plan.base.optimizer.beta1},
                 {"beta2", plan.base.optimizer.beta2},
                 {"nan_policy", to_string(plan.base.nan_policy)},
                 {"log_every", plan.log_every},
                 {"diverge_factor", plan.diverge_factor},
                 {"threads", plan.threads},
                 {"lr_grid", plan.lrs},
                 {"lr_from_grid", plan.grid},
                 {"out", args.out}};
  j["loss"] = "noiseless f(x) at the logged points, evaluated outside the query count";
  j["runs"] = nlohmann::json::array();
  for (const Run& r : runs)
    j["runs"].push_back({{"optimizer", to_string(r.optimizer)},
                         {"lr", r.lr},
                         {"initial_loss", json_number(r.initial_loss)},
                         {"final_loss", json_number(r.final_loss)},
                         {"steps", r.summary.steps},
                         {"queries", r.summary.evaluations},
                         {"skipped_steps", r.summary.skipped_steps},
                         {"seconds", r.summary.seconds},
                         {"termination", termination(r)},
                         {"message", r.summary.message}});
  j["best"] = nlohmann::json::object();
  for (std::size_t o = 0; o < plan.optimizers.size(); ++o) {
    nlohmann::json b;
    if (best[o].run) {
      const Run& r = runs[*best[o].run];
      b = {{"lr", r.lr}, {"final_loss", json_number(r.final_loss)}, {"at_grid_edge", !best[o].edge.empty()},
           {"edge", best[o].edge.empty() ? nlohmann::json(nullptr) : nlohmann::json(best[o].edge)}};
    } else {
      b = {{"lr", nullptr}, {"final_loss", nullptr}, {"at_grid_edge", false}, {"edge", nullptr}};
    }
    j["best"][std::string(to_string(plan.optimizers[o]))] = b;
  }
  j["equal_lr"] = nlohmann::json::array();
  for (double lr : plan.lrs) {
    nlohmann::json row = {{"lr", lr}};
    std::optional<std::size_t> winner;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].lr != lr) continue;
      row["final_loss"][std::string(to_string(runs[i].optimizer))] = json_number(runs[i].final_loss);
      if (usable(runs[i]) && (!winner || runs[i].final_loss < runs[*winner].final_loss)) winner = i;
    }
    row["best_optimizer"] = winner ? nlohmann::json(to_string(runs[*winner].optimizer)) : nlohmann::json(nullptr);
    j["equal_lr"].push_back(row);
  }
  write_file_atomic(dir / "summary.json", j.dump(2) + "\n");

  std::vector<Series> series;
  for (std::size_t o = 0; o < plan.optimizers.size(); ++o) {
    if (!best[o].run) continue;
    const Run& r = runs[*best[o].run];
    Series s{fmt::format("{} (lr {:g})", to_string(r.optimizer), r.lr), {}, {}};
    for (const Point& p : r.curve) {
      s.x.push_back(static_cast<double>(p.queries));
      s.y.push_back(p.loss);
    }
    series.push_back(std::move(s));
  }
  PlotOptions po;
  po.title = fmt::format("{} d={}: loss vs queries, best lr each", to_string(plan.synthetic.function), plan.synthetic.dim);
  po.x_label = "queries (function evaluations)";
  po.y_label = "noiseless loss";
  po.log_y = true;
  write_line_plot(dir / "curves.png", series, po);

  std::string tables = markdown_tables(plan, runs, best);
  write_file_atomic(dir / "table.md", tables);
  result.summary = std::move(j);
  result.tables = std::move(tables);
  result.files = {dir / "curves.csv", dir / "summary.json", dir / "curves.png", dir / "table.md"};
}

}  // namespace

void SyntheticBenchOptions::validate() const { (void)make_plan(*this); }

SyntheticBenchResult bench_synthetic(const SyntheticBenchOptions& options, const SyntheticBenchHooks& hooks) {
  const Plan plan = make_plan(options);
  const fs::path dir = options.out;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    fail("option 'out' = '{}': cannot create the folder ({})", options.out, ec ? ec.message() : "not a folder");
  SyntheticBenchResult result;
  result.runs = run_all(plan, hooks.progress);
  write_reports(plan, options, hooks.provenance, result);
  return result;
}

}  // namespace zo::tasks
