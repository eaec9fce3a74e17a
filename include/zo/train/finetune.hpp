// zo::finetune(options): prompt-based fine-tuning of a language model with forward passes only, as
// one library call — MeZO (zo-sgd, dense), MeZO-BCD (block-coordinate directions), ZO-AdaMM,
// R-AdaZO … in full-parameter or LoRA mode, with evaluation, logs, plots, a seed ledger, checkpoints
// and exact resume. `zo finetune` is this call with its flags bound to FinetuneOptions.
//
//   zo::FinetuneOptions o;
//   o.model = "models/opt-text-proto";
//   o.task = "sst2"; o.train = "train.jsonl"; o.eval = "dev.jsonl";
//   o.steps = 500; o.lr = 1e-4; o.out = "runs/sst2";
//   const zo::FinetuneResult r = zo::finetune(o);   // r.summary, r.first_eval, r.last_eval, r.files
//
// Files under `out` (docs/finetune.md): model/ (a complete model folder: config.json,
// model.safetensors, the tokenizer files; LoRA runs add adapters.safetensors), ledger.tsv,
// checkpoints/, train_log.csv, eval_log.csv, loss.png and accuracy.png, summary.json.
// Every option below is also a flag of `zo finetune` and a key of its JSON config file, by the same
// name with dashes (finetune_option_list(): per_class is --per-class and "per-class" or "per_class");
// validate() names the option at fault.
#pragma once

#include "zo/train/trainer.hpp"
#include "zo/util/option_list.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace zo {

struct FinetuneOptions {
  // Model and data
  std::string model{};                 // model folder: config.json + model.safetensors (HF OPT or LLaMA); required
  std::string tokenizer{};             // tokenizer.json; "" = MODEL/tokenizer.json
  std::string task = "sst2";           // sst2, rte, cb, boolq, wsc, wic, multirc, copa, custom
  std::string train{};                 // training JSONL; required unless steps = 0
  std::string eval{};                  // evaluation JSONL; "" = no evaluation
  std::int64_t k = 1000;               // training examples sampled (0 = all)
  bool per_class = false;              // k examples of each class
  std::int64_t eval_k = 1000;          // evaluation examples sampled (0 = all)
  std::optional<std::uint64_t> data_seed{};  // seed of the sampling; default: seed
  std::int64_t max_tokens = 0;         // keep the last N tokens (0 = min(2048, the model's positions))
  std::int64_t keep_last = 0;          // N > 0: keep the first max − N and the last N tokens
  nlohmann::json custom_template{};    // task custom: the template (prompt.hpp's tasks::CustomTemplate JSON)
  // Method
  std::string optimizer = "zo-sgd";    // zo-sgd (MeZO), zo-sign-sgd, zo-sgd-sign, zo-rmsprop, zo-adamm, r-adazo
  std::string direction = "dense";     // dense, sparse, low-rank, bcd (MeZO-BCD)
  std::string block_order{};           // all, cyclic, permutation, uniform, weighted ("" = the direction's)
  int blocks_per_step = 1;
  std::string distribution = "gaussian";  // gaussian, rademacher, sphere
  double keep = 0.1;                   // sparse: kept fraction p
  int granule = 1;                     // sparse: coordinates kept together (a power of 2 in [1, 64])
  int rank = 4;                        // low-rank: rank r
  std::int64_t steps = 1000;           // 0 = evaluate only (zero-shot)
  double lr = 1e-6;                    // η
  double eps = 1e-3;                   // ε
  int queries = 1;                     // q
  std::string difference = "central";  // central, forward
  double momentum = 0.0;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double zeta = 1e-8;
  std::string schedule = "constant";   // constant, linear, cosine
  std::int64_t warmup = 0;
  double lr_min_ratio = 0.0;
  std::int64_t batch = 16;
  std::uint64_t seed = 0;
  std::string loss = "lm";             // lm, classification
  std::string score = "mean";          // mean, sum
  std::string mode = "full";           // full, lora
  int lora_rank = 8;
  double lora_alpha = 16.0;
  std::string lora_target = "(q_proj|v_proj)\\.weight$";
  std::string nan_policy = "stop";     // stop, skip
  // Run
  std::int64_t eval_every = 0;
  std::int64_t eval_batch = 8;
  std::int64_t checkpoint_every = 0;
  int keep_checkpoints = 2;
  int ledger_fsync_every = 1;
  bool no_shared_prefix = false;
  bool no_plots = false;
  std::string out = "zo-finetune";
  bool resume = false;
  // Distributed runs (docs/distributed.md): `mpirun -np N zo finetune …` runs one rank a process.
  std::int64_t micro_batch = 0;        // examples per forward pass of a step's batch or shard (0 = all at once)
  std::string mpi_mode = "data";       // data (the batch split across ranks) or probes (the q probes split)

  // Throws zo::Error naming the option ('batch', 'lr', …), its value and the rule.
  void validate() const;
  // The trainer's options these imply (validates first).
  TrainerOptions trainer_options() const;
};

// Every option of FinetuneOptions with its name and help text: the `zo finetune` flags, the JSON
// config keys and Python keywords.
const OptionList<FinetuneOptions>& finetune_option_list();

// Sets `options` from a JSON object keyed by option name (numbers, strings, booleans; lists as arrays
// or comma-separated strings; "template": the custom template). Keys named in `skip` are left alone
// (the command line's). Throws zo::Error naming `where` and the key on an unknown key or a bad value.
void apply_finetune_config(FinetuneOptions& options, const nlohmann::json& config, const std::string& where,
                           const std::vector<std::string>& skip = {});

struct FinetuneResult {
  TrainSummary summary{};                    // the trainer's summary (why it stopped, steps, time)
  std::optional<Evaluation> first_eval{}, last_eval{};
  std::int64_t forward_passes = 0;
  std::int64_t trainable_parameters = 0;
  double peak_rss_mb = 0.0;
  std::vector<std::filesystem::path> files{};  // written under options.out
  nlohmann::json report{};                   // what summary.json holds
  int rank = 0;                              // this process's rank in a distributed run (0: the one that wrote the files)
};

// Hooks for progress displays (the zo command's progress line).
struct FinetuneCallbacks {
  std::function<void(const TrainStep&)> on_step{};
  std::function<void(std::int64_t step, const Evaluation&)> on_eval{};
};

// Loads the model, tokenizer and data, trains, evaluates and writes everything under options.out.
// Started by an MPI launcher (launched_by_mpi()), every rank runs this call with the same options over
// world_communicator(): each step is shared by the ranks as options.mpi_mode says, and rank 0 alone
// writes files and calls `callbacks`. An error on any rank ends every rank (the job is aborted with a
// message naming the rank) rather than leaving the others waiting.
// Throws zo::Error on bad options or input; a run that stopped on a non-finite loss (nan_policy stop)
// returns with summary.termination = non_finite_loss after writing its files.
FinetuneResult finetune(const FinetuneOptions& options, const FinetuneCallbacks& callbacks = {});

}  // namespace zo
