// `zo score`: per-token loss and perplexity of a text file under a language model (HF-format folder),
// in windows of --max-length tokens batched --batch at a time (zo::nn::score in include/zo/nn/text.hpp).
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace zo::app {
namespace {

namespace fs = std::filesystem;

struct ScoreArgs {
  std::string model;
  std::string text;
  std::string tokenizer;  // empty = MODEL/tokenizer.json
  std::int64_t max_length = 0;
  std::int64_t batch = 4;
  bool per_token = false;
};

void run_score(const ScoreArgs& args) {
  const fs::path tokenizer_path = args.tokenizer.empty() ? fs::path(args.model) / "tokenizer.json" : fs::path(args.tokenizer);
  const std::string text = read_file(args.text, "text file (--text)");

  const nn::Tokenizer tokenizer = nn::Tokenizer::from_file(tokenizer_path);
  nn::Model model = nn::Model::load(args.model);
  nn::check_tokenizer_fits(model, tokenizer, args.model, tokenizer_path);
  const std::vector<std::int32_t> ids = tokenizer.encode(text, true);
  nn::ScoreOptions options;
  options.max_length = args.max_length;
  options.batch = args.batch;
  const auto start = std::chrono::steady_clock::now();
  const nn::ScoreResult result = nn::score(model, ids, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (args.per_token) {
    fmt::print("index\tid\ttoken\tloss\n");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::string piece = tokenizer.decode(std::span(&ids[i], 1), false);
      for (char& c : piece)
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
      fmt::print("{}\t{}\t{}\t{:.6f}\n", i, ids[i], piece, result.token_losses[i]);
    }
  }
  const std::int64_t window = args.max_length == 0 ? model.config().max_positions
                                                   : std::min(args.max_length, model.config().max_positions);
  fmt::print("model {} ({}, {} parameters), text {}: {} tokens, windows of {}\n", args.model,
             nn::to_string(model.config().arch), model.parameter_count(), args.text, ids.size(), window);
  fmt::print("tokens_scored {}\nmean_loss {:.6f}\nperplexity {:.6f}\nseconds {:.3f}\n", result.count, result.mean_loss,
             result.perplexity, seconds);
}

void setup_score(CLI::App& sub) {
  auto args = std::make_shared<ScoreArgs>();
  sub.add_option("--model", args->model, "HF-format model folder (config.json, model.safetensors)")->required();
  sub.add_option("--text", args->text, "text file to score (UTF-8)")->required();
  sub.add_option("--tokenizer", args->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  sub.add_option("--max-length", args->max_length,
                 "tokens per window; the first token of each window is not scored (0 = max_position_embeddings)")
      ->capture_default_str();
  sub.add_option("--batch", args->batch, "windows per forward pass")->capture_default_str();
  sub.add_flag("--per-token", args->per_token, "print index, id, token and loss (nats) for every token");
  sub.callback([args] { run_score(*args); });
}

const bool registered = register_command(
    {"score", "Per-token loss and perplexity of a text file under a language model", setup_score});

}  // namespace
}  // namespace zo::app
