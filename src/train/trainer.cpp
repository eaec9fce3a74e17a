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

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <fstream>
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

}  // namespace

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
  if (out_dir.empty()) fail("trainer option 'out_dir': must be set");
  if (!ledger_config.is_object()) fail("trainer option 'ledger_config': must be a JSON object");
  estimator.validate();
  optimizer.validate();
  schedule.validate();
}

Trainer::Trainer(TrainObjective& objective, TrainerOptions options) : objective_(objective), options_(std::move(options)) {
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
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
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
    if (on_note) {
      on_note(text);
    } else {
      std::fprintf(stderr, "zo: %s\n", text.c_str());
    }
  };
  if (o.resume) {
    if (const int n = remove_stale_temporaries(o.out_dir); n > 0)
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
    if (fs::exists(ledger_path)) {
      ledger.emplace(LedgerWriter::resume(ledger_path, config, state.step, o.ledger_fsync_every));
      if (!ledger->warning().empty()) note("resume: " + ledger->warning());
    } else if (state.step == 0) {
      ledger.emplace(LedgerWriter::create(ledger_path, config, o.ledger_fsync_every));
    } else {
      fail("{}: missing, but checkpoint step {} needs it (the ledger holds the run's history)", ledger_path.string(), state.step);
    }
  } else {
    if (fs::exists(ledger_path)) {
      fail("{}: a run already exists in this folder: pass --resume to continue it, or choose another output folder",
           ledger_path.string());
    }
    fs::remove_all(checkpoint_root, ec);
    ledger.emplace(LedgerWriter::create(ledger_path, config, o.ledger_fsync_every));
  }
  summary.start_step = state.step;
  summary.skipped_steps = state.skipped_steps;

  StepLog train_log(o.out_dir / "train_log.csv", "step,loss,lr,skipped,evaluations,seconds", o.resume, state.step);
  StepLog eval_log(o.out_dir / "eval_log.csv", "step,eval_loss,accuracy,examples,seconds,margin,balanced_accuracy", o.resume, state.step - 1);

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
    const Evaluation e = objective_.evaluate();
    eval_cpu += process_cpu_seconds() - c0;
    const double s = since(t0);
    eval_seconds += s;
    eval_log.add({std::to_string(step), format_number(e.loss), format_number(e.accuracy), std::to_string(e.examples),
                  format_number(s), format_number(e.margin), format_number(e.balanced_accuracy)});
    eval_log.flush();
    if (!summary.first_eval) summary.first_eval = e;
    summary.last_eval = e;
    if (on_eval) on_eval(step, e);
  };
  const auto checkpoint = [&]() {
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
    train_log.flush();
    state.skipped_steps = summary.skipped_steps;
    write_checkpoint(checkpoint_root, params, optimizer->state_dict(), state, {.keep_last = o.keep_checkpoints});
  };

  if (state.step == 0 || (o.eval_every > 0 && state.step % o.eval_every == 0 && state.step < o.steps)) run_eval(state.step);

  std::vector<std::size_t> order;
  std::int64_t order_epoch = -1;
  std::vector<std::size_t> batch;
  std::vector<double> losses;  // the step's evaluations, for the ledger
  RunState before = state;
  const Loss loss = [&]() {
    const auto t0 = Clock::now();
    const double c0 = process_cpu_seconds();
    const double v = objective_.loss(batch);
    loss_cpu += process_cpu_seconds() - c0;
    loss_seconds += since(t0);
    losses.push_back(v);
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
    losses.clear();
    objective_.begin_step(batch, blocks);
  };
  events.end = [&](const StepRecord& r) {
    const Estimate& estimate = *r.estimate;
    const std::int64_t t = r.step;
    if (r.skipped) ++summary.skipped_steps;
    ledger->append({.step = t, .probes = estimate.probes, .losses = losses, .lr = r.lr, .blocks = estimate.blocks, .skipped = r.skipped});
    state.step = t + 1;
    const double seconds = since(start) - eval_seconds - checkpoint_seconds;
    summary.losses.push_back(estimate.loss);
    train_log.add({std::to_string(t + 1), format_number(estimate.loss), format_number(r.lr), r.skipped ? "1" : "0",
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
  const StepSummary run = driver.run(estimator, loss, callbacks);
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
  train_log.flush();
  eval_log.flush();
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
