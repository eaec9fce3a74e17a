// `zo finetune`: prompt-based fine-tuning of a language model with forward passes only — MeZO
// (zo-sgd, dense), MeZO-BCD (block-coordinate directions), ZO-AdaMM, R-AdaZO … — in full-parameter or
// LoRA mode, with evaluation, logs, plots, a seed ledger, checkpoints and exact resume.
// Every option is described in docs/finetune.md; a JSON config file may set any of them by its long
// name (flags on the command line win) and holds a custom template under "template".
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/safetensors.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"
#include "zo/tasks/dataset.hpp"
#include "zo/tasks/encoded_example.hpp"
#include "zo/tasks/prompt.hpp"
#include "zo/util/files.hpp"
#include "zo/util/plot.hpp"
#include "zo/util/progress.hpp"
#include "zo/util/rss.hpp"
#include "zo/train/prompt_objective.hpp"
#include "zo/train/model_setup.hpp"
#include "zo/train/trainer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace zo::app {
namespace {

namespace fs = std::filesystem;

struct FinetuneArgs {
  std::string model, tokenizer, task = "sst2", train, eval, config, out = "zo-finetune";
  std::int64_t k = 1000;
  bool per_class = false;
  std::int64_t eval_k = 1000;
  std::optional<std::uint64_t> data_seed;
  std::int64_t max_tokens = 0;
  std::int64_t keep_last = 0;
  std::string optimizer = "zo-sgd", direction = "dense", block_order, distribution = "gaussian";
  double keep = 0.1;
  int rank = 4, blocks_per_step = 1;
  double lr = 1e-6, eps = 1e-3, momentum = 0.0, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.99, zeta = 1e-8;
  int queries = 1;
  std::string difference = "central", schedule = "constant";
  std::int64_t warmup = 0;
  double lr_min_ratio = 0.0;
  std::int64_t steps = 1000, batch = 16;
  std::uint64_t seed = 0;
  std::int64_t eval_every = 0, checkpoint_every = 0, eval_batch = 8;
  int keep_checkpoints = 2, ledger_fsync_every = 1;
  bool resume = false, no_shared_prefix = false, no_plots = false;
  std::string loss = "lm", score = "mean", mode = "full", nan_policy = "stop";
  int lora_rank = 8;
  double lora_alpha = 16.0;
  std::string lora_target = "(q_proj|v_proj)\\.weight$";
};

std::string read_text(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the {}", path.string(), what);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Sets every option the config names and the command line did not; returns the custom template, if any.
std::optional<nlohmann::json> apply_config(CLI::App& sub, const std::string& path) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(read_text(path, "config file"));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON ({})", path, e.what());
  }
  if (!json.is_object()) fail("{}: the config must be a JSON object of option names to values", path);
  std::optional<nlohmann::json> tmpl;
  for (const auto& [key, value] : json.items()) {
    if (key == "template") {
      tmpl = value;
      continue;
    }
    std::string name = key;
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "config") fail("{}: key 'config': a config file cannot name another", path);
    CLI::Option* opt = sub.get_option_no_throw("--" + name);
    if (opt == nullptr) fail("{}: key '{}': not an option of zo finetune (see zo finetune --help)", path, key);
    if (opt->count() > 0) continue;  // the command line wins
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_boolean() || value.is_number()) {
      text = value.dump();
    } else {
      fail("{}: key '{}': must be a string, a number or a boolean", path, key);
    }
    try {
      opt->add_result(text);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      fail("{}: key '{}' = {}: {}", path, key, value.dump(), e.what());
    }
  }
  return tmpl;
}

std::vector<tasks::Example> load_examples(const tasks::PromptTemplate& tmpl, const std::string& file, std::int64_t k, bool per_class,
                                   std::uint64_t seed) {
  const std::vector<tasks::Record> records = tasks::read_jsonl(file);
  if (records.empty()) fail("{}: no records", file);
  std::vector<tasks::Example> all = tmpl.render(records);
  std::vector<int> labels;
  for (const tasks::Example& e : all) labels.push_back(e.gold);
  std::vector<tasks::Example> picked;
  for (std::size_t i : tasks::sample_indices(labels, {.k = k, .per_class = per_class, .seed = seed})) picked.push_back(std::move(all[i]));
  return picked;
}

DirectionOptions direction_from_args(const FinetuneArgs& a) {
  DirectionOptions d;
  if (a.direction == "bcd" || a.direction == "block-coordinate") {
    d.kind = DirectionKind::dense;
    d.order = BlockOrder::permutation;
  } else {
    d.kind = direction_kind_from_string(a.direction);
  }
  if (!a.block_order.empty()) d.order = block_order_from_string(a.block_order);
  d.distribution = distribution_from_string(a.distribution);
  d.keep = a.keep;
  d.rank = a.rank;
  d.blocks_per_step = a.blocks_per_step;
  return d;
}

void write_plots(const fs::path& out, const TrainSummary& s, const fs::path& eval_log) {
  if (s.losses.empty()) return;  // a resumed run that had nothing left to do
  Series loss{.label = "train loss", .x = {}, .y = {}};
  for (std::size_t i = 0; i < s.losses.size(); ++i) {
    loss.x.push_back(double(s.start_step + std::int64_t(i) + 1));
    loss.y.push_back(s.losses[i]);
  }
  write_line_plot(out / "loss.png", std::vector<Series>{loss},
                  {.title = "zo finetune: training loss", .x_label = "step", .y_label = "loss"});
  Series acc{.label = "eval accuracy", .x = {}, .y = {}};
  std::ifstream in(eval_log);
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
}

// --steps 0: the model as loaded (zero-shot, or a fine-tuned model/ folder) on --eval, nothing trained.
void evaluate_only(PromptObjective& objective, const FinetuneArgs& a, const fs::path& out) {
  if (a.eval.empty()) fail("option --steps 0 evaluates only: it needs --eval (a JSONL file)");
  if (a.resume) fail("option --resume: nothing to resume with --steps 0");
  const auto t0 = std::chrono::steady_clock::now();
  const Evaluation e = objective.evaluate();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail("{}: cannot create folder: {}", out.string(), ec.message());
  const nlohmann::json report = {
      {"termination", "evaluation_only"},
      {"message", "evaluation only (--steps 0)"},
      {"steps", 0},
      {"eval_seconds", seconds},
      {"forward_passes", objective.forward_passes()},
      {"peak_rss_mb", peak_rss_mb()},
      {"first_eval", {{"loss", e.loss}, {"accuracy", e.accuracy}, {"margin", e.margin}, {"balanced_accuracy", e.balanced_accuracy}, {"examples", e.examples}}},
      {"last_eval", {{"loss", e.loss}, {"accuracy", e.accuracy}, {"margin", e.margin}, {"balanced_accuracy", e.balanced_accuracy}, {"examples", e.examples}}},
  };
  write_file_atomic(out / "summary.json", report.dump(2) + "\n");
  std::fprintf(stderr, "zo finetune: evaluation only: accuracy %.4f (balanced %.4f), margin %+.4f, loss %.4f on %lld examples (%.1f s); summary in %s\n",
               e.accuracy, e.balanced_accuracy, e.margin, e.loss, static_cast<long long>(e.examples), seconds, (out / "summary.json").c_str());
}

void run(CLI::App& sub, FinetuneArgs& a) {
  std::optional<nlohmann::json> tmpl_json;
  if (!a.config.empty()) {
    tmpl_json = apply_config(sub, a.config);
  }
  if (a.model.empty()) fail("option --model: required (a folder with config.json and model.safetensors)");
  if (a.train.empty()) fail("option --train: required (a JSONL file)");
  const fs::path out = a.out;
  const tasks::TaskKind kind = tasks::task_kind_from_string(a.task);
  const tasks::PromptTemplate tmpl = kind == tasks::TaskKind::custom
                                  ? (tmpl_json ? tasks::PromptTemplate::custom(tasks::CustomTemplate::from_json(*tmpl_json, a.config + ": template"))
                                               : tasks::PromptTemplate::builtin(kind))
                                  : tasks::PromptTemplate::builtin(kind);
  if (tmpl_json && kind != tasks::TaskKind::custom) fail("{}: key 'template' needs --task custom (got --task {})", a.config, a.task);

  nn::Model model = nn::Model::load(a.model);
  const fs::path tokenizer_path = a.tokenizer.empty() ? fs::path(a.model) / "tokenizer.json" : fs::path(a.tokenizer);
  const nn::Tokenizer tokenizer = nn::Tokenizer::from_file(tokenizer_path);
  nn::check_tokenizer_fits(model, tokenizer, a.model, tokenizer_path);
  const std::int64_t max_tokens = a.max_tokens > 0 ? a.max_tokens : std::min<std::int64_t>(2048, model.config().max_positions);
  const std::uint64_t data_seed = a.data_seed.value_or(a.seed);
  const tasks::TextEncoder encode = [&](std::string_view text) { return tokenizer.encode(text, true); };
  auto encode_all = [&](const std::vector<tasks::Example>& examples) {
    std::vector<tasks::EncodedExample> out_examples;
    for (const tasks::Example& e : examples) out_examples.push_back(tasks::encode_example(e, encode, max_tokens, a.keep_last));
    return out_examples;
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

  if (a.steps == 0) {
    evaluate_only(objective, a, out);
    return;
  }
  TrainerOptions o;
  o.steps = a.steps;
  o.batch_size = a.batch;
  o.seed = a.seed;
  o.direction = direction_from_args(a);
  o.estimator = {.eps = a.eps, .queries = a.queries, .difference = difference_from_string(a.difference)};
  o.optimizer.kind = optimizer_kind_from_string(a.optimizer);
  o.optimizer.lr = a.lr;
  o.optimizer.momentum = a.momentum;
  o.optimizer.weight_decay = a.weight_decay;
  o.optimizer.beta1 = a.beta1;
  o.optimizer.beta2 = a.beta2;
  o.optimizer.zeta = a.zeta;
  o.schedule = {.kind = schedule_kind_from_string(a.schedule), .warmup_steps = a.warmup, .lr_min_ratio = a.lr_min_ratio};
  o.nan_policy = nan_policy_from_string(a.nan_policy);
  o.eval_every = a.eval_every;
  o.checkpoint_every = a.checkpoint_every;
  o.keep_checkpoints = a.keep_checkpoints;
  o.ledger_fsync_every = a.ledger_fsync_every;
  o.evaluate = !a.eval.empty();
  o.out_dir = out;
  o.resume = a.resume;
  o.ledger_config = setup.ledger_config;

  Trainer trainer(objective, o);
  ProgressOptions progress_options;
  progress_options.label = fmt::format("finetune {} {}", a.task, a.optimizer);
  progress_options.total = a.steps;
  Progress progress(progress_options);
  std::string last_eval;
  std::int64_t first_step = -1;
  trainer.on_step = [&](const TrainStep& s) {
    if (first_step < 0) first_step = s.step - 1;
    const double rate = s.seconds > 0 ? double(s.step - first_step) / s.seconds : 0.0;
    progress.update(s.step, fmt::format("loss {:.4g}  lr {:.3g}  {:.3g} steps/s{}", s.loss, s.lr, rate, last_eval));
  };
  trainer.on_eval = [&](std::int64_t step, const Evaluation& e) {
    last_eval = fmt::format("  acc {:.3f} margin {:+.3f} (step {})", e.accuracy, e.margin, step);
  };
  const TrainSummary summary = trainer.run();
  const double steps_run = double(summary.steps - summary.start_step);
  progress.finish(fmt::format("loss {:.4g}  {:.3g} steps/s{}", summary.losses.empty() ? 0.0 : summary.losses.back(),
                              summary.seconds > 0 ? steps_run / summary.seconds : 0.0, last_eval));

  export_weights(model, setup, out / "model", a.model, tokenizer_path);
  if (!a.no_plots) write_plots(out, summary, out / "eval_log.csv");
  nlohmann::json report = {
      {"termination", to_string(summary.termination)},
      {"message", summary.message},
      {"start_step", summary.start_step},
      {"steps", summary.steps},
      {"skipped_steps", summary.skipped_steps},
      {"loss_evaluations", summary.evaluations},
      {"forward_passes", objective.forward_passes()},
      {"train_seconds", summary.seconds},
      {"eval_seconds", summary.eval_seconds},
      {"checkpoint_seconds", summary.checkpoint_seconds},
      {"seconds_per_step", steps_run > 0 ? summary.seconds / steps_run : 0.0},
      {"loss_seconds_per_step", steps_run > 0 ? summary.loss_seconds / steps_run : 0.0},
      {"cpu_seconds_per_step", steps_run > 0 ? summary.cpu_seconds / steps_run : 0.0},
      {"loss_cpu_seconds_per_step", steps_run > 0 ? summary.loss_cpu_seconds / steps_run : 0.0},
      {"peak_rss_mb", peak_rss_mb()},
      {"trainable_parameters", objective.params().numel()},
      {"train_examples", objective.train_size()},
  };
  if (summary.first_eval) report["first_eval"] = {{"loss", summary.first_eval->loss}, {"accuracy", summary.first_eval->accuracy}, {"margin", summary.first_eval->margin}, {"balanced_accuracy", summary.first_eval->balanced_accuracy}};
  if (summary.last_eval) report["last_eval"] = {{"loss", summary.last_eval->loss}, {"accuracy", summary.last_eval->accuracy}, {"margin", summary.last_eval->margin}, {"balanced_accuracy", summary.last_eval->balanced_accuracy}};
  write_file_atomic(out / "summary.json", report.dump(2) + "\n");
  std::fprintf(stderr, "zo finetune: %s; %.3g s/step; peak RSS %.1f MB; weights in %s\n", summary.message.c_str(),
               steps_run > 0 ? summary.seconds / steps_run : 0.0, peak_rss_mb(), (out / "model").c_str());
  if (summary.termination == Termination::non_finite_loss) fail("{}", summary.message);
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<FinetuneArgs>();
  sub.add_option("--model", a->model, "model folder: config.json + model.safetensors (HF format, OPT or LLaMA)");
  sub.add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  sub.add_option("--task", a->task, "sst2, rte, cb, boolq, wsc, wic, multirc, copa, or custom (template in --config)")->capture_default_str();
  sub.add_option("--train", a->train, "training data, JSONL with the GLUE/SuperGLUE field names");
  sub.add_option("--eval", a->eval, "evaluation data, JSONL (accuracy every --eval-every steps and at the end)");
  sub.add_option("--config", a->config, "JSON file: any option by its long name; \"template\" for --task custom");
  sub.add_option("--k", a->k, "training examples sampled with the data seed (0 = all)")->capture_default_str();
  sub.add_flag("--per-class", a->per_class, "--k examples of each class (MeZO's few-shot setting)");
  sub.add_option("--eval-k", a->eval_k, "evaluation examples sampled (0 = all)")->capture_default_str();
  sub.add_option("--data-seed", a->data_seed, "seed of the example sampling (default: --seed)");
  sub.add_option("--max-tokens", a->max_tokens, "keep the last N tokens of a sequence (default: min(2048, model's max positions))");
  sub.add_option("--keep-last", a->keep_last,
                 "0: a long sequence keeps its last --max-tokens tokens (MeZO); N > 0: its first max − N and its last N "
                 "(the question and the candidate survive, the text keeps its start)")
      ->capture_default_str();
  sub.add_option("--optimizer", a->optimizer, "zo-sgd (MeZO), zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm, r-adazo")->capture_default_str();
  sub.add_option("--direction", a->direction, "dense, sparse, low-rank, or bcd (dense over one block a step, a fresh permutation of the blocks each epoch: MeZO-BCD)")->capture_default_str();
  sub.add_option("--block-order", a->block_order, "all, cyclic, permutation, uniform, weighted (overrides the direction's)");
  sub.add_option("--blocks-per-step", a->blocks_per_step, "blocks moved per step under a block order")->capture_default_str();
  sub.add_option("--distribution", a->distribution, "gaussian, rademacher, sphere")->capture_default_str();
  sub.add_option("--keep", a->keep, "sparse: kept fraction p")->capture_default_str();
  sub.add_option("--rank", a->rank, "low-rank: rank r of the direction")->capture_default_str();
  sub.add_option("--steps", a->steps, "training steps (0 = evaluate the model on --eval only: zero-shot)")->capture_default_str();
  sub.add_option("--lr", a->lr, "learning rate η")->capture_default_str();
  sub.add_option("--eps", a->eps, "perturbation scale ε")->capture_default_str();
  sub.add_option("--queries", a->queries, "probe directions per step q")->capture_default_str();
  sub.add_option("--difference", a->difference, "central or forward")->capture_default_str();
  sub.add_option("--momentum", a->momentum, "zo-sgd momentum μ")->capture_default_str();
  sub.add_option("--weight-decay", a->weight_decay, "weight decay λ (not on biases and norms)")->capture_default_str();
  sub.add_option("--beta1", a->beta1, "β₁ of the adaptive rules")->capture_default_str();
  sub.add_option("--beta2", a->beta2, "β₂ of the adaptive rules")->capture_default_str();
  sub.add_option("--zeta", a->zeta, "ζ of the adaptive rules")->capture_default_str();
  sub.add_option("--schedule", a->schedule, "constant, linear, cosine")->capture_default_str();
  sub.add_option("--warmup", a->warmup, "linear warm-up steps")->capture_default_str();
  sub.add_option("--lr-min-ratio", a->lr_min_ratio, "final η / η for linear and cosine")->capture_default_str();
  sub.add_option("--batch", a->batch, "examples per step")->capture_default_str();
  sub.add_option("--seed", a->seed, "run seed: directions, data order, LoRA init")->capture_default_str();
  sub.add_option("--loss", a->loss, "lm (cross-entropy of the label word over the vocabulary) or classification (over the candidates)")->capture_default_str();
  sub.add_option("--score", a->score, "candidate score for evaluation: mean or sum of the option tokens' log-likelihoods")->capture_default_str();
  sub.add_option("--mode", a->mode, "full (every parameter) or lora (adapters only, base frozen)")->capture_default_str();
  sub.add_option("--lora-rank", a->lora_rank, "LoRA rank r")->capture_default_str();
  sub.add_option("--lora-alpha", a->lora_alpha, "LoRA α (scale α/r)")->capture_default_str();
  sub.add_option("--lora-target", a->lora_target, "regex of the weights that get adapters")->capture_default_str();
  sub.add_option("--nan-policy", a->nan_policy, "stop (keep the last good θ and checkpoint) or skip (skip the step)")->capture_default_str();
  sub.add_option("--eval-every", a->eval_every, "evaluate every K steps (0 = at the start and end only)")->capture_default_str();
  sub.add_option("--eval-batch", a->eval_batch, "sequences per evaluation forward pass")->capture_default_str();
  sub.add_option("--checkpoint-every", a->checkpoint_every, "checkpoint every K steps (0 = at the end only)")->capture_default_str();
  sub.add_option("--keep-checkpoints", a->keep_checkpoints, "checkpoints kept")->capture_default_str();
  sub.add_option("--ledger-fsync-every", a->ledger_fsync_every, "fsync the ledger every N rows")->capture_default_str();
  sub.add_flag("--no-shared-prefix", a->no_shared_prefix, "run full forward passes even when only upper layers move");
  sub.add_flag("--no-plots", a->no_plots, "do not write loss.png and accuracy.png");
  sub.add_option("--out", a->out, "output folder: model/, ledger.tsv, checkpoints/, logs, plots, summary.json")->capture_default_str();
  sub.add_flag("--resume", a->resume, "continue the run in --out from its newest checkpoint");
  sub.callback([&sub, a]() { run(sub, *a); });
}

const bool registered = register_command({"finetune", "Fine-tune a language model on a prompt task with ZO (MeZO, MeZO-BCD, R-AdaZO …)", setup});

}  // namespace
}  // namespace zo::app
