// `zo replay --model BASE --ledger FILE --out DIR`: rebuilds the weights a `zo finetune` run produced
// from the base model and the run's seed ledger alone (train/replay.hpp), and writes them to DIR as a
// model folder (config.json + model.safetensors; adapters.safetensors too in LoRA mode). The result is
// bit-identical to the run's own DIR/model on the same build and machine type. No data, tokenizer or
// forward pass is needed.
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/model.hpp"
#include "zo/train/ledger.hpp"
#include "zo/train/model_setup.hpp"
#include "zo/train/replay.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace zo::app {
namespace {

struct ReplayArgs {
  std::string model, ledger, out;
};

void run(const ReplayArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  nn::Model model = nn::Model::load(a.model);
  const Ledger ledger = read_ledger(a.ledger);
  if (!ledger.warning.empty()) std::fprintf(stderr, "zo replay: warning: %s\n", ledger.warning.c_str());
  ModelSetup setup = model_setup_from_ledger(model, ledger.config, a.ledger);
  const ReplaySummary s = replay_ledger(ledger, setup.trainable(), a.ledger);
  export_weights(model, setup, a.out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "zo replay: %lld steps (%lld skipped) applied in %.2f s; weights in %s\n", (long long)s.steps,
               (long long)s.skipped, seconds, a.out.c_str());
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<ReplayArgs>();
  sub.add_option("--model", a->model, "the base model folder the run started from")->required();
  sub.add_option("--ledger", a->ledger, "the run's ledger.tsv")->required();
  sub.add_option("--out", a->out, "folder to write the rebuilt model to")->required();
  sub.callback([a]() { run(*a); });
}

const bool registered = register_command({"replay", "Rebuild fine-tuned weights from the base model and a seed ledger", setup});

}  // namespace
}  // namespace zo::app
