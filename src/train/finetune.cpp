// zo::finetune: the whole fine-tuning job — model, tokenizer, data, objective, trainer, export,
// plots, summary — behind one options struct (finetune.hpp).
#include "zo/train/finetune.hpp"

#include "zo/nn/blas.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/ops.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"
#include "zo/tasks/dataset.hpp"
#include "zo/tasks/encoded_example.hpp"
#include "zo/tasks/prompt.hpp"
#include "zo/train/model_setup.hpp"
#include "zo/train/prompt_objective.hpp"
#include "zo/util/csv.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/option_json.hpp"
#include "zo/util/plot.hpp"
#include "zo/util/rss.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace zo {

namespace fs = std::filesystem;

const OptionList<FinetuneOptions>& finetune_option_list() {
  static const OptionList<FinetuneOptions> list = [] {
    using O = FinetuneOptions;
    OptionList<O> l;
    l.add("model", &O::model, "model folder: config.json + model.safetensors (HF format, OPT or LLaMA)")
        .add("tokenizer", &O::tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)")
        .add("task", &O::task, "sst2, rte, cb, boolq, wsc, wic, multirc, copa, or custom (template in --config)")
        .add("train", &O::train, "training data, JSONL with the GLUE/SuperGLUE field names")
        .add("eval", &O::eval, "evaluation data, JSONL (accuracy every --eval-every steps and at the end)")
        .add("k", &O::k, "training examples sampled with the data seed (0 = all)")
        .flag("per-class", &O::per_class, "--k examples of each class (MeZO's few-shot setting)")
        .add("eval-k", &O::eval_k, "evaluation examples sampled (0 = all)")
        .add("data-seed", &O::data_seed, "seed of the example sampling (default: --seed)")
        .add("max-tokens", &O::max_tokens, "keep the last N tokens of a sequence (0 = min(2048, the model's max positions))")
        .add("keep-last", &O::keep_last,
             "0: a long sequence keeps its last --max-tokens tokens (MeZO); N > 0: its first max − N and its last N "
             "(the question and the candidate survive, the text keeps its start)")
        .add("optimizer", &O::optimizer, "zo-sgd (MeZO), zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm, r-adazo")
        .add("direction", &O::direction,
             "dense, sparse, low-rank, or bcd (dense over one block a step, a fresh permutation of the blocks each "
             "epoch: MeZO-BCD)")
        .add("block-order", &O::block_order, "all, cyclic, permutation, uniform, weighted (overrides the direction's)")
        .add("blocks-per-step", &O::blocks_per_step, "blocks moved per step under a block order")
        .add("distribution", &O::distribution, "gaussian, rademacher, sphere")
        .add("keep", &O::keep, "sparse: kept fraction p, in (0, 1]")
        .add("granule", &O::granule,
             "sparse: runs of this many consecutive coordinates are kept or dropped together (a power of 2 in "
             "[1, 64]; 16 = a cache line of float32: a pass at keep p then touches ~p of the memory)")
        .add("rank", &O::rank, "low-rank: rank r of the direction")
        .add("steps", &O::steps, "training steps (0 = evaluate the model on --eval only: zero-shot)")
        .add("lr", &O::lr, "learning rate η")
        .add("eps", &O::eps, "perturbation scale ε")
        .add("queries", &O::queries, "probe directions per step q")
        .add("difference", &O::difference, "central or forward")
        .add("momentum", &O::momentum, "zo-sgd momentum μ, in [0, 1)")
        .add("weight-decay", &O::weight_decay, "weight decay λ (not on biases and norms)")
        .add("beta1", &O::beta1, "β₁ of the adaptive rules, in [0, 1)")
        .add("beta2", &O::beta2, "β₂ of the adaptive rules, in [0, 1)")
        .add("zeta", &O::zeta, "ζ of the adaptive rules, > 0")
        .add("schedule", &O::schedule, "constant, linear, cosine")
        .add("warmup", &O::warmup, "linear warm-up steps")
        .add("lr-min-ratio", &O::lr_min_ratio, "final η / η for linear and cosine")
        .add("batch", &O::batch, "examples per step")
        .add("seed", &O::seed, "run seed: directions, data order, LoRA init")
        .add("loss", &O::loss, "lm (cross-entropy of the label word over the vocabulary) or classification (over the candidates)")
        .add("score", &O::score, "candidate score for evaluation: mean or sum of the option tokens' log-likelihoods")
        .add("mode", &O::mode, "full (every parameter) or lora (adapters only, base frozen)")
        .add("lora-rank", &O::lora_rank, "LoRA rank r")
        .add("lora-alpha", &O::lora_alpha, "LoRA α (scale α/r)")
        .add("lora-target", &O::lora_target, "regex of the weights that get adapters")
        .add("nan-policy", &O::nan_policy, "stop (keep the last good θ and checkpoint) or skip (skip the step)")
        .add("eval-every", &O::eval_every, "evaluate every K steps (0 = at the start and end only)")
        .add("eval-batch", &O::eval_batch, "sequences per evaluation forward pass")
        .add("checkpoint-every", &O::checkpoint_every, "checkpoint every K steps (0 = at the end only)")
        .add("keep-checkpoints", &O::keep_checkpoints, "checkpoints kept")
        .add("ledger-fsync-every", &O::ledger_fsync_every, "fsync the ledger every N rows")
        .flag("no-shared-prefix", &O::no_shared_prefix, "run full forward passes even when only upper layers move")
        .flag("no-plots", &O::no_plots, "do not write loss.png and accuracy.png")
        .add("out", &O::out, "output folder: model/, ledger.tsv, checkpoints/, logs, plots, summary.json")
        .flag("resume", &O::resume, "continue the run in --out from its newest checkpoint")
        .add("micro-batch", &O::micro_batch,
             "examples per forward pass of a step's batch (or of this rank's shard): fixed activation memory, the "
             "same loss bit for bit (0 = the whole batch at once)")
        .add("mpi-mode", &O::mpi_mode,
             "under mpirun: data (each rank evaluates a contiguous shard of the batch) or probes (each rank evaluates "
             "every q-th probe on the whole batch); needs a build with MPI");
    return l;
  }();
  return list;
}

namespace {

DirectionOptions direction_options(const FinetuneOptions& o) {
  DirectionOptions d;
  if (o.direction == "bcd" || o.direction == "block-coordinate") {
    d.kind = DirectionKind::dense;
    d.order = BlockOrder::permutation;
  } else {
    d.kind = direction_kind_from_string(o.direction);
  }
  if (!o.block_order.empty()) d.order = block_order_from_string(o.block_order);
  d.distribution = distribution_from_string(o.distribution);
  d.keep = o.keep;
  d.granule = o.granule;
  d.rank = o.rank;
  d.blocks_per_step = o.blocks_per_step;
  return d;
}

}  // namespace

void FinetuneOptions::validate() const {
  if (model.empty()) fail("option 'model': required (a folder with config.json and model.safetensors)");
  if (train.empty()) fail("option 'train': required (a JSONL file)");
  if (out.empty()) fail("option 'out': required (the output folder)");
  require_choice("task", task, tasks::task_kind_from_string);
  if (!custom_template.is_null() && tasks::task_kind_from_string(task) != tasks::TaskKind::custom)
    fail("option 'template' needs task custom (the task is '{}')", task);
  require_option(k >= 0, "k", k, "must be >= 0 (0 = all)");
  require_option(eval_k >= 0, "eval-k", eval_k, "must be >= 0 (0 = all)");
  require_option(max_tokens >= 0, "max-tokens", max_tokens, "must be >= 0 (0 = the model's limit)");
  require_option(keep_last >= 0, "keep-last", keep_last, "must be >= 0");
  require_choice("optimizer", optimizer, optimizer_kind_from_string);
  if (direction != "bcd" && direction != "block-coordinate") {
    try {
      (void)direction_kind_from_string(direction);
    } catch (const Error& e) {
      fail("option 'direction' = '{}': {} (or bcd)", direction, e.what());
    }
  }
  if (!block_order.empty()) require_choice("block-order", block_order, block_order_from_string);
  require_option(blocks_per_step >= 1, "blocks-per-step", blocks_per_step, "must be >= 1");
  require_choice("distribution", distribution, distribution_from_string);
  require_option(keep > 0.0 && keep <= 1.0, "keep", keep, "must be in (0, 1]");
  require_option(granule >= 1 && granule <= kMaxSparseGranule && (granule & (granule - 1)) == 0, "granule", granule,
                 "must be a power of 2 in [1, 64]");
  require_option(rank >= 1, "rank", rank, "must be >= 1");
  require_option(steps >= 0, "steps", steps, "must be >= 0 (0 = evaluate only)");
  require_option(finite_positive(lr), "lr", lr, "must be finite and > 0");
  require_option(finite_positive(eps), "eps", eps, "must be finite and > 0");
  require_option(queries >= 1, "queries", queries, "must be >= 1");
  require_choice("difference", difference, difference_from_string);
  require_option(in_unit_interval(momentum), "momentum", momentum, "must be in [0, 1)");
  require_option(std::isfinite(weight_decay) && weight_decay >= 0.0, "weight-decay", weight_decay, "must be finite and >= 0");
  require_option(in_unit_interval(beta1), "beta1", beta1, "must be in [0, 1)");
  require_option(in_unit_interval(beta2), "beta2", beta2, "must be in [0, 1)");
  require_option(finite_positive(zeta), "zeta", zeta, "must be finite and > 0");
  require_choice("schedule", schedule, schedule_kind_from_string);
  require_option(warmup >= 0, "warmup", warmup, "must be >= 0");
  require_option(lr_min_ratio >= 0.0 && lr_min_ratio <= 1.0, "lr-min-ratio", lr_min_ratio, "must be in [0, 1]");
  require_option(batch >= 1, "batch", batch, "must be >= 1");
  require_choice("loss", loss, tasks::prompt_loss_from_string);
  require_choice("score", score, tasks::candidate_score_from_string);
  require_choice("mode", mode, train_mode_from_string);
  require_option(lora_rank >= 1, "lora-rank", lora_rank, "must be >= 1");
  require_option(finite_positive(lora_alpha), "lora-alpha", lora_alpha, "must be finite and > 0");
  require_choice("nan-policy", nan_policy, nan_policy_from_string);
  require_option(eval_every >= 0, "eval-every", eval_every, "must be >= 0 (0 = at the start and end only)");
  require_option(eval_batch >= 1, "eval-batch", eval_batch, "must be >= 1");
  require_option(checkpoint_every >= 0, "checkpoint-every", checkpoint_every, "must be >= 0 (0 = at the end only)");
  require_option(keep_checkpoints >= 1, "keep-checkpoints", keep_checkpoints, "must be >= 1");
  require_option(ledger_fsync_every >= 1, "ledger-fsync-every", ledger_fsync_every, "must be >= 1");
  require_option(micro_batch >= 0, "micro-batch", micro_batch, "must be >= 0 (0 = the whole batch at once)");
  require_choice("mpi-mode", mpi_mode, parallel_mode_from_string);
  if (mpi_mode != "data" && !built_with_mpi())
    fail("option 'mpi-mode' = '{}': zo was built without MPI (configure with -DZO_MPI=ON and an MPI library installed)", mpi_mode);
  if (steps == 0 && eval.empty()) fail("option 'steps' = 0 evaluates only: it needs option 'eval' (a JSONL file)");
  if (steps == 0 && resume) fail("option 'resume': nothing to resume with steps = 0");
}

TrainerOptions FinetuneOptions::trainer_options() const {
  validate();
  TrainerOptions o;
  o.steps = steps;
  o.batch_size = batch;
  o.seed = seed;
  o.direction = direction_options(*this);
  o.estimator = {.eps = eps, .queries = queries, .difference = difference_from_string(difference)};
  o.optimizer.kind = optimizer_kind_from_string(optimizer);
  o.optimizer.lr = lr;
  o.optimizer.momentum = momentum;
  o.optimizer.weight_decay = weight_decay;
  o.optimizer.beta1 = beta1;
  o.optimizer.beta2 = beta2;
  o.optimizer.zeta = zeta;
  o.schedule = {.kind = schedule_kind_from_string(schedule), .warmup_steps = warmup, .lr_min_ratio = lr_min_ratio};
  o.nan_policy = nan_policy_from_string(nan_policy);
  o.eval_every = eval_every;
  o.checkpoint_every = checkpoint_every;
  o.keep_checkpoints = keep_checkpoints;
  o.ledger_fsync_every = ledger_fsync_every;
  o.evaluate = !eval.empty();
  o.out_dir = out;
  o.resume = resume;
  o.micro_batch = micro_batch;
  o.parallel = parallel_mode_from_string(mpi_mode);
  return o;
}

void apply_finetune_config(FinetuneOptions& options, const nlohmann::json& config, const std::string& where,
                           const std::vector<std::string>& skip) {
  apply_json_options(finetune_option_list(), options, config, where, "zo finetune", skip,
                     [&](const std::string& key, const nlohmann::json& value) {
                       if (key != "template") return false;
                       options.custom_template = value;
                       return true;
                     });
}

namespace {

std::vector<tasks::Example> load_examples(const tasks::PromptTemplate& tmpl, const std::string& file, std::int64_t k,
                                          bool per_class, std::uint64_t seed) {
  const std::vector<tasks::Record> records = tasks::read_jsonl(file);
  if (records.empty()) fail("{}: no records", file);
  std::vector<tasks::Example> all = tmpl.render(records);
  std::vector<int> labels;
  for (const tasks::Example& e : all) labels.push_back(e.gold);
  std::vector<tasks::Example> picked;
  for (std::size_t i : tasks::sample_indices(labels, {.k = k, .per_class = per_class, .seed = seed})) picked.push_back(std::move(all[i]));
  return picked;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  return {{"loss", e.loss}, {"accuracy", e.accuracy}, {"margin", e.margin}, {"balanced_accuracy", e.balanced_accuracy}, {"examples", e.examples}};
}

// loss.png from the run's losses, accuracy.png from eval_log.csv (a resumed run's earlier evaluations too).
void write_plots(const fs::path& out, const TrainSummary& s, std::vector<fs::path>& files) {
  if (s.losses.empty()) return;  // a resumed run that had nothing left to do
  Series loss{.label = "train loss", .x = {}, .y = {}};
  for (std::size_t i = 0; i < s.losses.size(); ++i) {
    loss.x.push_back(double(s.start_step + std::int64_t(i) + 1));
    loss.y.push_back(s.losses[i]);
  }
  write_line_plot(out / "loss.png", std::vector<Series>{loss},
                  {.title = "zo finetune: training loss", .x_label = "step", .y_label = "loss"});
  files.push_back(out / "loss.png");
  Series acc{.label = "eval accuracy", .x = {}, .y = {}};
  const fs::path eval_log = out / "eval_log.csv";
  if (!fs::exists(eval_log)) return;
  std::istringstream in(read_file(eval_log, "evaluation log"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string item;
    while (std::getline(ss, item, ',')) f.push_back(item);
    if (f.size() < 3) continue;
    acc.x.push_back(std::stod(f[0]));
    acc.y.push_back(std::stod(f[2]));
  }
  if (acc.x.empty()) return;  // no evaluation set
  write_line_plot(out / "accuracy.png", std::vector<Series>{acc},
                  {.title = "zo finetune: evaluation accuracy", .x_label = "step", .y_label = "accuracy"});
  files.push_back(out / "accuracy.png");
}

}  // namespace

namespace {

FinetuneResult finetune_on(const FinetuneOptions& options, const FinetuneCallbacks& all_callbacks, Communicator& comm);

}  // namespace

FinetuneResult finetune(const FinetuneOptions& options, const FinetuneCallbacks& callbacks) {
  options.validate();
  if (!launched_by_mpi()) {
    SingleProcess single;
    return finetune_on(options, callbacks, single);
  }
  if (!built_with_mpi()) {
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (size != nullptr && std::string(size) != "1")
      fail("started by mpirun with {} ranks, but zo was built without MPI (configure with -DZO_MPI=ON and an MPI library "
           "installed)", size);
    SingleProcess single;
    return finetune_on(options, callbacks, single);
  }
  Communicator& comm = world_communicator();
  if (comm.size() == 1) return finetune_on(options, callbacks, comm);
  try {
    return finetune_on(options, callbacks, comm);
  } catch (const std::exception& e) {
    // The other ranks may be waiting in an exchange: end them all, never leave them hanging.
    std::fprintf(stderr, "zo: rank %d of %d: %s\nzo: aborting every rank of the job\n", comm.rank(), comm.size(), e.what());
    std::fflush(stderr);
    comm.abort(1);
    throw;  // not reached: abort() ends the process
  }
}

namespace {

FinetuneResult finetune_on(const FinetuneOptions& options, const FinetuneCallbacks& all_callbacks, Communicator& comm) {
  const FinetuneOptions& a = options;
  const bool root = comm.rank() == 0;  // the only rank that writes files and reports progress
  const FinetuneCallbacks callbacks = root ? all_callbacks : FinetuneCallbacks{};
  const fs::path out = a.out;
  const tasks::TaskKind kind = tasks::task_kind_from_string(a.task);
  const tasks::PromptTemplate tmpl =
      kind == tasks::TaskKind::custom && !a.custom_template.is_null()
          ? tasks::PromptTemplate::custom(tasks::CustomTemplate::from_json(a.custom_template, "option 'template'"))
          : tasks::PromptTemplate::builtin(kind);

  nn::Model model = nn::Model::load(a.model);
  const fs::path tokenizer_path = a.tokenizer.empty() ? fs::path(a.model) / "tokenizer.json" : fs::path(a.tokenizer);
  const nn::Tokenizer tokenizer = nn::Tokenizer::from_file(tokenizer_path);
  nn::check_tokenizer_fits(model, tokenizer, a.model, tokenizer_path);
  const std::int64_t max_tokens = a.max_tokens > 0 ? a.max_tokens : std::min<std::int64_t>(2048, model.config().max_positions);
  const std::uint64_t data_seed = a.data_seed.value_or(a.seed);
  const tasks::TextEncoder encode = [&](std::string_view text) { return tokenizer.encode(text, true); };
  const auto encode_all = [&](const std::vector<tasks::Example>& examples) {
    std::vector<tasks::EncodedExample> encoded;
    for (const tasks::Example& e : examples) encoded.push_back(tasks::encode_example(e, encode, max_tokens, a.keep_last));
    return encoded;
  };
  std::vector<tasks::EncodedExample> train = encode_all(load_examples(tmpl, a.train, a.k, a.per_class, data_seed));
  std::vector<tasks::EncodedExample> eval;
  if (!a.eval.empty()) eval = encode_all(load_examples(tmpl, a.eval, a.eval_k, false, data_seed));

  ModelSetup setup = make_model_setup(
      model, {.mode = train_mode_from_string(a.mode),
              .lora = {.rank = a.lora_rank, .alpha = a.lora_alpha, .target = a.lora_target, .init_seed = a.seed}});
  PromptObjective objective(model, std::move(train), std::move(eval),
                            {.loss = tasks::prompt_loss_from_string(a.loss),
                             .score = tasks::candidate_score_from_string(a.score),
                             .eval_batch = a.eval_batch,
                             .shared_prefix = !a.no_shared_prefix},
                            setup.lora.get());

  const bool split_batches = a.micro_batch > 0 || comm.size() > 1;
  if (root && split_batches && a.steps > 0 && !nn::ops::matmul_is_row_invariant())
    std::fprintf(stderr,
                 "zo finetune: warning: OpenBLAS's %s kernels give a row of a matrix product other bits in batches of "
                 "other sizes, so micro-batches and ranks agree with the whole batch to float rounding, not bit for "
                 "bit; OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Prescott makes them exact (docs/distributed.md)\n",
                 nn::blas_core().c_str());

  FinetuneResult result;
  result.rank = comm.rank();
  result.trainable_parameters = objective.params().numel();
  std::error_code ec;
  if (root) fs::create_directories(out, ec);
  if (ec) fail("{}: cannot create the output folder: {}", out.string(), ec.message());

  if (a.steps == 0) {
    // The model as loaded (zero-shot, or a fine-tuned model/ folder) on the evaluation set.
    const auto t0 = std::chrono::steady_clock::now();
    const Evaluation e = objective.evaluate_on(comm);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.summary.message = "evaluation only (steps = 0)";
    result.summary.eval_seconds = seconds;
    result.first_eval = result.last_eval = e;
    result.forward_passes = objective.forward_passes();
    result.peak_rss_mb = peak_rss_mb();
    result.report = {{"termination", "evaluation_only"},       {"message", result.summary.message},
                     {"steps", 0},                             {"eval_seconds", seconds},
                     {"forward_passes", result.forward_passes}, {"peak_rss_mb", result.peak_rss_mb},
                     {"first_eval", evaluation_json(e)},       {"last_eval", evaluation_json(e)}};
    if (root) write_file_atomic(out / "summary.json", result.report.dump(2) + "\n");
    result.files.push_back(out / "summary.json");
    return result;
  }

  TrainerOptions trainer_options = a.trainer_options();
  trainer_options.ledger_config = setup.ledger_config;
  Trainer trainer(objective, trainer_options, &comm);
  trainer.on_step = callbacks.on_step;
  trainer.on_eval = callbacks.on_eval;
  const TrainSummary summary = trainer.run();

  if (root) export_weights(model, setup, out / "model", a.model, tokenizer_path);
  result.files = {out / "model", out / "ledger.tsv", out / "checkpoints", out / "train_log.csv"};
  if (!a.eval.empty()) result.files.push_back(out / "eval_log.csv");
  if (!a.no_plots && root) write_plots(out, summary, result.files);
  const double steps_run = double(summary.steps - summary.start_step);
  result.summary = summary;
  result.first_eval = summary.first_eval;
  result.last_eval = summary.last_eval;
  result.forward_passes = objective.forward_passes();
  result.peak_rss_mb = peak_rss_mb();
  nlohmann::json& report = result.report;
  report = {
      {"termination", to_string(summary.termination)},
      {"message", summary.message},
      {"start_step", summary.start_step},
      {"steps", summary.steps},
      {"skipped_steps", summary.skipped_steps},
      {"loss_evaluations", summary.evaluations},
      {"forward_passes", result.forward_passes},
      {"train_seconds", summary.seconds},
      {"eval_seconds", summary.eval_seconds},
      {"checkpoint_seconds", summary.checkpoint_seconds},
      {"seconds_per_step", steps_run > 0 ? summary.seconds / steps_run : 0.0},
      {"loss_seconds_per_step", steps_run > 0 ? summary.loss_seconds / steps_run : 0.0},
      {"cpu_seconds_per_step", steps_run > 0 ? summary.cpu_seconds / steps_run : 0.0},
      {"loss_cpu_seconds_per_step", steps_run > 0 ? summary.loss_cpu_seconds / steps_run : 0.0},
      {"peak_rss_mb", result.peak_rss_mb},
      {"trainable_parameters", result.trainable_parameters},
      {"train_examples", objective.train_size()},
  };
  if (summary.first_eval) report["first_eval"] = evaluation_json(*summary.first_eval);
  if (summary.last_eval) report["last_eval"] = evaluation_json(*summary.last_eval);
  // What this rank exchanged with the others (rank 0's view; every rank exchanges the same amount ± its shard).
  const CommStats& x = summary.exchange;
  report["distributed"] = {
      {"ranks", summary.ranks},
      {"mode", to_string(summary.parallel)},
      {"micro_batch", a.micro_batch},
      {"communicator", comm.describe()},
      {"row_invariant_products", nn::ops::matmul_is_row_invariant()},  // micro-batches and ranks exact
      {"exchanges", x.exchanges},
      {"bytes_sent", x.bytes_sent},
      {"bytes_received", x.bytes_received},
      {"bytes_per_step", steps_run > 0 ? double(x.bytes_sent + x.bytes_received) / steps_run : 0.0},
      {"wait_seconds", x.wait_seconds},
      {"wait_seconds_per_step", steps_run > 0 ? x.wait_seconds / steps_run : 0.0},
  };
  if (root) write_file_atomic(out / "summary.json", report.dump(2) + "\n");
  result.files.push_back(out / "summary.json");
  return result;
}

}  // namespace

}  // namespace zo
