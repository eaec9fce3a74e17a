#include "zo/train/trainer.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"
#include "zo/tasks/dataset.hpp"
#include "zo/util/files.hpp"
#include "zo/train/checkpoint.hpp"
#include "zo/util/csv.hpp"
#include "zo/train/ledger.hpp"
#include "zo/train/options_json.hpp"
#include "zo/optim/step_driver.hpp"
#include "zo/util/rss.hpp"
#include "zo/core/kernels.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace zo {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// An appended CSV log whose first column is a step; on resume the rows after a step are cut off.
class StepLog {
 public:
  StepLog(fs::path path, const std::string& header, bool resume, std::int64_t keep_through_step) : path_(std::move(path)) {
    std::string kept = header + "\n";
    if (resume && fs::exists(path_)) {
      std::ifstream in(path_);
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) {
        const std::size_t comma = line.find(',');
        std::int64_t step = -1;
        try {
          step = std::stoll(line.substr(0, comma));
        } catch (const std::exception&) {
          continue;  // a partial last line from a kill
        }
        if (step <= keep_through_step && in.good()) kept += line + "\n";
      }
    }
    write_file_atomic(path_, kept);
    out_ = std::fopen(path_.c_str(), "a");
    if (out_ == nullptr) fail("{}: cannot open the log for appending", path_.string());
  }
  StepLog(const StepLog&) = delete;
  StepLog& operator=(const StepLog&) = delete;
  ~StepLog() {
    if (out_) std::fclose(out_);
  }
  void add(const std::vector<std::string>& fields) {
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) line.push_back(',');
      line += fields[i];
    }
    line.push_back('\n');
    if (std::fputs(line.c_str(), out_) == EOF) fail("{}: write failed: {}", path_.string(), std::strerror(errno));
  }
  void flush() {
    if (std::fflush(out_) != 0) fail("{}: write failed: {}", path_.string(), std::strerror(errno));
  }

 private:
  fs::path path_;
  std::FILE* out_ = nullptr;
};

// The next batch of the data order; advances (epoch, position).
std::vector<std::size_t> next_batch(std::size_t n, std::int64_t batch_size, std::uint64_t seed, RunState& state,
                                    std::vector<std::size_t>& order, std::int64_t& order_epoch) {
  std::vector<std::size_t> batch;
  batch.reserve(std::size_t(batch_size));
  while (std::int64_t(batch.size()) < batch_size) {
    if (order_epoch != state.epoch) {
      order = tasks::seeded_permutation(n, derive_seed(seed, std::uint64_t(state.epoch), kDataOrderPurpose));
      order_epoch = state.epoch;
    }
    batch.push_back(order[std::size_t(state.position)]);
    if (++state.position == std::int64_t(n)) {
      state.position = 0;
      ++state.epoch;
    }
  }
  return batch;
}

// Removes the temporary files (".NAME.tmp.XXXXXX", files.hpp's rule) that a killed run left in `dir`
// and its direct subfolders; returns how many.
int remove_stale_temporaries(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  const auto sweep = [&](const fs::path& folder) {
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      const std::string leaf = entry.path().filename().string();
      const std::size_t tmp = leaf.rfind(".tmp.");
      if (leaf.starts_with(".") && tmp != std::string::npos && tmp > 0 && leaf.size() == tmp + 11 &&
          entry.is_regular_file(ec) && fs::remove(entry.path(), ec))
        ++removed;
    }
  };
  sweep(dir);
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory(ec)) sweep(entry.path());
  return removed;
}

// Probe-parallel estimate: Estimator::estimate's protocol, with probe k's evaluations made by rank
// k mod N only (forward difference: evaluation j — f₀ is j = 0, probe k is j = k + 1 — by rank j mod N).
// Every rank applies every probe's ±ε moves in the same order, evaluated or not, so θ follows the same
// float path as one process. The evaluations are all-gathered and ρ, the loss, the ledger's losses and
// the non-finite handling are then formed as Estimator::estimate forms them.
Estimate probe_parallel_estimate(const EstimatorOptions& eo, const Loss& loss, ParamSet& params, const Direction& direction,
                                 std::uint64_t seed, std::int64_t step, Communicator& comm, std::vector<double>& losses) {
  Estimate out;
  out.step = step;
  out.blocks = direction.active_blocks(seed, step);
  const float eps = float(eo.eps);
  const double eps_applied = double(eps);
  const int q = eo.queries, n = comm.size(), me = comm.rank();
  const bool central = eo.difference == Difference::central;
  std::vector<Draw> draws;
  for (int k = 0; k < q; ++k) draws.push_back(direction.draw(params, out.blocks, probe_seed(seed, step, k)));
  std::vector<double> mine;
  if (!central && 0 % n == me) mine.push_back(loss());
  for (int k = 0; k < q; ++k) {
    const int owner = (central ? k : k + 1) % n;
    perturb(params, direction, out.blocks, draws[std::size_t(k)], eps);
    if (owner == me) mine.push_back(loss());
    if (central) {
      perturb(params, direction, out.blocks, draws[std::size_t(k)], -2.0f * eps);
      if (owner == me) mine.push_back(loss());
      perturb(params, direction, out.blocks, draws[std::size_t(k)], eps);
    } else {
      perturb(params, direction, out.blocks, draws[std::size_t(k)], -eps);
    }
  }
  const std::vector<double> gathered = comm.allgather(mine);
  // Back into evaluation order: rank r sent its evaluations j ≡ r (mod N) in increasing j.
  const int per = central ? 2 : 1;
  const int count = central ? q : q + 1;
  std::vector<double> f(std::size_t(count * per));
  std::size_t at = 0;
  for (int r = 0; r < n; ++r)
    for (int j = r; j < count; j += n)
      for (int i = 0; i < per; ++i) f.at(std::size_t(j * per + i)) = gathered.at(at++);
  losses.clear();
  const auto take = [&](double v) {
    ++out.evaluations;
    losses.push_back(v);
    if (!std::isfinite(v)) out.finite = false;
    return v;
  };
  if (!central) {
    const double f0 = take(f[0]);
    out.loss = f0;
    if (!out.finite) return out;
    for (int k = 0; k < q; ++k) {
      const double fk = take(f[std::size_t(k + 1)]);
      const double rho = (fk - f0) / eps_applied;
      out.probes.push_back({draws[std::size_t(k)], rho});
      if (!out.finite || !std::isfinite(rho)) {
        out.finite = false;
        if (!std::isfinite(fk)) out.loss = fk;
        return out;
      }
    }
    return out;
  }
  double loss_sum = 0.0;
  for (int k = 0; k < q; ++k) {
    const double f_plus = take(f[std::size_t(2 * k)]);
    const double f_minus = out.finite ? take(f[std::size_t(2 * k + 1)]) : std::numeric_limits<double>::quiet_NaN();
    const double rho = (f_plus - f_minus) / (2.0 * eps_applied);
    out.probes.push_back({draws[std::size_t(k)], rho});
    if (!out.finite || !std::isfinite(rho)) {
      out.finite = false;
      out.loss = !std::isfinite(f_plus) ? f_plus : !std::isfinite(f_minus) ? f_minus : 0.5 * (f_plus + f_minus);
      return out;
    }
    loss_sum += 0.5 * (f_plus + f_minus);
  }
  out.loss = loss_sum / double(q);
  return out;
}

}  // namespace

std::string_view to_string(ParallelMode m) { return m == ParallelMode::probes ? "probes" : "data"; }

ParallelMode parallel_mode_from_string(std::string_view name) {
  if (name == "data") return ParallelMode::data;
  if (name == "probes") return ParallelMode::probes;
  fail("unknown parallel mode '{}': expected one of data, probes", name);
}

LossTerms TrainObjective::loss_terms(std::span<const std::size_t>) {
  fail("this objective has no per-example losses: micro-batches and data-parallel ranks need them");
}

nlohmann::json describe_params(const ParamSet& params) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const Param& p : params.params()) tensors.push_back({p.name, to_string(p.dtype), p.shape});
  nlohmann::json blocks = nlohmann::json::array();
  for (const Block& b : params.blocks()) blocks.push_back({b.name, b.params});
  return {{"tensors", tensors}, {"blocks", blocks}};
}

void TrainerOptions::validate() const {
  if (steps < 1) fail("trainer option 'steps' = {}: must be >= 1", steps);
  if (batch_size < 1) fail("trainer option 'batch_size' = {}: must be >= 1", batch_size);
  if (eval_every < 0) fail("trainer option 'eval_every' = {}: must be >= 0 (0 = only at the start and end)", eval_every);
  if (checkpoint_every < 0) fail("trainer option 'checkpoint_every' = {}: must be >= 0 (0 = only at the end)", checkpoint_every);
  if (keep_checkpoints < 1) fail("trainer option 'keep_checkpoints' = {}: must be >= 1", keep_checkpoints);
  if (ledger_fsync_every < 1) fail("trainer option 'ledger_fsync_every' = {}: must be >= 1", ledger_fsync_every);
  if (micro_batch < 0) fail("trainer option 'micro_batch' = {}: must be >= 0 (0 = the whole batch at once)", micro_batch);
  if (out_dir.empty()) fail("trainer option 'out_dir': must be set");
  if (!ledger_config.is_object()) fail("trainer option 'ledger_config': must be a JSON object");
  estimator.validate();
  optimizer.validate();
  schedule.validate();
}

Trainer::Trainer(TrainObjective& objective, TrainerOptions options, Communicator* communicator)
    : objective_(objective), options_(std::move(options)), communicator_(communicator) {
  options_.validate();
  options_.direction.validate(objective_.params().blocks().size());
  if (objective_.train_size() == 0) fail("trainer: the training set is empty");
}

nlohmann::json Trainer::ledger_config() const {
  nlohmann::json config = options_.ledger_config;
  config["seed"] = options_.seed;
  config["direction"] = to_json(options_.direction);
  config["estimator"] = to_json(options_.estimator);
  config["optimizer"] = to_json(options_.optimizer);
  config["params"] = describe_params(objective_.params());
  config["z_stream"] = kZStreamVersion;
  return config;
}

TrainSummary Trainer::run() {
  ParamSet& params = objective_.params();
  const TrainerOptions& o = options_;
  SingleProcess single;
  Communicator& comm = communicator_ ? *communicator_ : single;
  const bool root = comm.rank() == 0;  // the only rank that writes files
  const bool data_parallel = comm.size() > 1 && o.parallel == ParallelMode::data;
  const bool probe_parallel = comm.size() > 1 && o.parallel == ParallelMode::probes;
  std::error_code ec;
  if (root) fs::create_directories(o.out_dir, ec);
  if (ec) fail("{}: cannot create the output folder: {}", o.out_dir.string(), ec.message());
  const fs::path ledger_path = o.out_dir / "ledger.tsv";
  const fs::path checkpoint_root = o.out_dir / "checkpoints";
  const nlohmann::json config = ledger_config();
  // Everything a resumed run must share with the original, beyond the ledger config.
  nlohmann::json fingerprint = config;
  fingerprint["steps"] = o.steps;
  fingerprint["batch_size"] = o.batch_size;
  fingerprint["schedule"] = to_json(o.schedule);
  fingerprint["nan_policy"] = to_string(o.nan_policy);
  fingerprint["train_size"] = objective_.train_size();

  std::unique_ptr<Optimizer> optimizer = Optimizer::create(o.optimizer);
  RunState state;
  state.run_seed = o.seed;
  state.total_steps = o.steps;
  state.extra = {{"run", fingerprint}};

  TrainSummary summary;
  std::optional<LedgerWriter> ledger;
  const auto note = [&](const std::string& text) {
    if (!root) return;
    if (on_note) {
      on_note(text);
    } else {
      std::fprintf(stderr, "zo: %s\n", text.c_str());
    }
  };
  if (o.resume) {
    if (const int n = root ? remove_stale_temporaries(o.out_dir) : 0; n > 0)
      note(fmt::format("resume: removed {} temporary file(s) an interrupted run left in {}", n, o.out_dir.string()));
    // A run recorded under other z streams cannot continue: refused before any checkpoint is tried.
    if (fs::exists(ledger_path)) {
      check_z_stream_version(ledger_z_stream(read_ledger(ledger_path).config, ledger_path.string()), ledger_path.string());
    }
    // The newest checkpoint that loads; an incomplete or corrupt one is skipped for the one before it.
    std::optional<fs::path> resumed_from;
    for (const fs::path& dir : list_checkpoints(checkpoint_root)) {
      LoadedCheckpoint loaded;
      try {
        loaded = load_checkpoint(dir, params);  // checks every file before it writes θ
      } catch (const Error& e) {
        note(fmt::format("resume: skipping checkpoint {}: {}", dir.string(), e.what()));
        continue;
      }
      if (loaded.state.extra.value("run", nlohmann::json()) != fingerprint) {
        fail("{}: the checkpoint was written by a run with other options or data (resume with the same ones)\n"
             "  checkpoint: {}\n  this run:   {}",
             dir.string(), loaded.state.extra.value("run", nlohmann::json()).dump(), fingerprint.dump());
      }
      optimizer->load_state_dict(loaded.optimizer, params);
      state = loaded.state;
      resumed_from = dir;
      break;
    }
    if (resumed_from) {
      note(fmt::format("resume: continuing from {} (step {} of {})", resumed_from->string(), state.step, o.steps));
    } else {
      note(fmt::format("resume: no checkpoint in {}: starting from step 0", checkpoint_root.string()));
    }
    if (!root) {
      // Rank 0 alone keeps the ledger.
    } else if (fs::exists(ledger_path)) {
      ledger.emplace(LedgerWriter::resume(ledger_path, config, state.step, o.ledger_fsync_every));
      if (!ledger->warning().empty()) note("resume: " + ledger->warning());
    } else if (state.step == 0) {
      ledger.emplace(LedgerWriter::create(ledger_path, config, o.ledger_fsync_every));
    } else {
      fail("{}: missing, but checkpoint step {} needs it (the ledger holds the run's history)", ledger_path.string(), state.step);
    }
  } else if (root) {
    if (fs::exists(ledger_path)) {
      fail("{}: a run already exists in this folder: pass --resume to continue it, or choose another output folder",
           ledger_path.string());
    }
    fs::remove_all(checkpoint_root, ec);
    ledger.emplace(LedgerWriter::create(ledger_path, config, o.ledger_fsync_every));
  }
  if (comm.size() > 1) {
    // Every rank continues from the same step (the same checkpoint), and none starts before all have
    // loaded: rank 0 writes the next checkpoint only after this exchange.
    const std::vector<double> starts = comm.allgather(std::vector<double>{double(state.step)});
    for (std::size_t r = 0; r < starts.size(); ++r)
      if (starts[r] != double(state.step))
        fail("resume: rank {} starts at step {} but rank {} at step {}: the ranks must see the same {}", r, starts[r],
             comm.rank(), state.step, checkpoint_root.string());
  }
  summary.start_step = state.step;
  summary.skipped_steps = state.skipped_steps;
  summary.ranks = comm.size();
  summary.parallel = o.parallel;

  std::optional<StepLog> train_log, eval_log;
  if (root) {
    train_log.emplace(o.out_dir / "train_log.csv", "step,loss,lr,skipped,evaluations,seconds", o.resume, state.step);
    eval_log.emplace(o.out_dir / "eval_log.csv", "step,eval_loss,accuracy,examples,seconds,margin,balanced_accuracy", o.resume,
                     state.step - 1);
  }

  const Direction direction(o.direction, params);
  const Estimator estimator(o.estimator);
  const auto start = Clock::now();
  double eval_seconds = 0.0, checkpoint_seconds = 0.0, loss_seconds = 0.0;
  const double cpu_start = process_cpu_seconds();
  double eval_cpu = 0.0, checkpoint_cpu = 0.0, loss_cpu = 0.0;

  const auto run_eval = [&](std::int64_t step) {
    if (!o.evaluate) return;
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    const Evaluation e = comm.size() > 1 ? objective_.evaluate_on(comm) : objective_.evaluate();
    eval_cpu += process_cpu_seconds() - c0;
    const double s = since(t0);
    eval_seconds += s;
    if (root) {
      eval_log->add({std::to_string(step), format_number(e.loss), format_number(e.accuracy), std::to_string(e.examples),
                     format_number(s), format_number(e.margin), format_number(e.balanced_accuracy)});
      eval_log->flush();
    }
    if (!summary.first_eval) summary.first_eval = e;
    summary.last_eval = e;
    if (on_eval) on_eval(step, e);
  };
  const auto checkpoint = [&]() {
    if (!root) return;
    const auto t0 = Clock::now();
    struct Timer {
      Clock::time_point t0;
      double& total;
      double c0;
      double& cpu;
      ~Timer() {
        total += since(t0);
        cpu += process_cpu_seconds() - c0;
      }
    } timer{t0, checkpoint_seconds, process_cpu_seconds(), checkpoint_cpu};
    ledger->flush();
    train_log->flush();
    state.skipped_steps = summary.skipped_steps;
    write_checkpoint(checkpoint_root, params, optimizer->state_dict(), state, {.keep_last = o.keep_checkpoints});
  };

  if (state.step == 0 || (o.eval_every > 0 && state.step % o.eval_every == 0 && state.step < o.steps)) run_eval(state.step);

  std::vector<std::size_t> order;
  std::int64_t order_epoch = -1;
  std::vector<std::size_t> batch;
  std::vector<double> losses;  // the step's evaluations, for the ledger
  RunState before = state;
  std::span<const std::size_t> shard;  // the examples this rank evaluates: its shard, or the whole batch
  // The loss on the step's batch: whole, or in micro-batches and shards whose per-example terms are
  // concatenated in the batch's order (the exchange) and reduced once.
  const Loss loss = [&]() {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    double v = 0.0;
    if (!data_parallel && o.micro_batch == 0) {
      v = objective_.loss(batch);
    } else {
      LossTerms terms;
      const std::size_t m = o.micro_batch > 0 ? std::size_t(o.micro_batch) : std::max<std::size_t>(shard.size(), 1);
      for (std::size_t at = 0; at < shard.size(); at += m) terms.append(objective_.loss_terms(shard.subspan(at, std::min(m, shard.size() - at))));
      loss_cpu += process_cpu_seconds() - c0;
      loss_seconds += since(t0);
      if (data_parallel) {
        terms = LossTerms::unpack(comm.allgather(terms.pack()));
      }
      v = terms.reduce();
      if (!probe_parallel) losses.push_back(v);
      return v;
    }
    loss_cpu += process_cpu_seconds() - c0;
    loss_seconds += since(t0);
    if (!probe_parallel) losses.push_back(v);
    return v;
  };
  // The step loop's events: each step's batch, then its ledger row, logs, evaluation and checkpoint.
  class Events final : public StepCallback {
   public:
    std::function<void(std::span<const std::uint32_t>)> begin;
    std::function<void(const StepRecord&)> end;
    void begin_step(std::int64_t, std::span<const std::uint32_t> blocks) override { begin(blocks); }
    bool end_step(const StepRecord& r) override {
      end(r);
      return true;
    }
  } events;
  events.begin = [&](std::span<const std::uint32_t> blocks) {
    before = state;
    batch = next_batch(objective_.train_size(), o.batch_size, o.seed, state, order, order_epoch);
    shard = batch;
    if (data_parallel) {
      const Shard mine = shard_of(batch.size(), comm.size(), comm.rank());
      shard = std::span<const std::size_t>(batch).subspan(mine.begin, mine.end - mine.begin);
    }
    losses.clear();
    objective_.begin_step(shard, blocks);
  };
  events.end = [&](const StepRecord& r) {
    const Estimate& estimate = *r.estimate;
    const std::int64_t t = r.step;
    if (r.skipped) ++summary.skipped_steps;
    if (root) ledger->append({.step = t, .probes = estimate.probes, .losses = losses, .lr = r.lr, .blocks = estimate.blocks, .skipped = r.skipped});
    state.step = t + 1;
    const double seconds = since(start) - eval_seconds - checkpoint_seconds;
    summary.losses.push_back(estimate.loss);
    if (root) train_log->add({std::to_string(t + 1), format_number(estimate.loss), format_number(r.lr), r.skipped ? "1" : "0",
                   std::to_string(estimate.evaluations), format_number(seconds)});
    if (on_step) {
      on_step({.step = t + 1, .loss = estimate.loss, .lr = r.lr, .skipped = r.skipped, .evaluations = r.evaluations,
               .seconds = seconds});
    }
    const bool last = t + 1 == o.steps;
    if (!last && o.eval_every > 0 && (t + 1) % o.eval_every == 0) run_eval(t + 1);
    if (!last && o.checkpoint_every > 0 && (t + 1) % o.checkpoint_every == 0) checkpoint();
  };
  StepDriver driver(params, direction, *optimizer,
                    {.seed = o.seed,
                     .first_step = state.step,
                     .max_steps = o.steps,
                     .lr = o.optimizer.lr,
                     .schedule = o.schedule,
                     .nan_policy = o.nan_policy});
  StepCallback* const callbacks[] = {&events};
  StepSummary run;
  if (probe_parallel) {
    const EstimateFn estimate = [&](std::int64_t t) {
      return probe_parallel_estimate(o.estimator, loss, params, direction, o.seed, t, comm, losses);
    };
    run = driver.run(estimate, evaluations_per_step(o.estimator), callbacks);
  } else {
    run = driver.run(estimator, loss, callbacks);
  }
  summary.evaluations = run.evaluations;
  summary.termination = run.termination;
  if (run.termination == Termination::non_finite_loss) {
    state = before;
    checkpoint();
    summary.message = fmt::format(
        "the loss was {} at step {}: stopped (nan-policy stop); θ keeps its last good value, checkpointed at step {}",
        run.last_loss, state.step, state.step);
  }
  if (summary.termination == Termination::max_steps) {
    run_eval(state.step);
    checkpoint();
    summary.message = fmt::format("{} steps done", state.step);
  }
  if (root) {
    train_log->flush();
    eval_log->flush();
  }
  summary.exchange = comm.stats();
  summary.steps = state.step;
  summary.eval_seconds = eval_seconds;
  summary.checkpoint_seconds = checkpoint_seconds;
  summary.loss_seconds = loss_seconds;
  summary.cpu_seconds = process_cpu_seconds() - cpu_start - eval_cpu - checkpoint_cpu;
  summary.loss_cpu_seconds = loss_cpu;
  summary.seconds = since(start) - eval_seconds - checkpoint_seconds;
  return summary;
}

}  // namespace zo
