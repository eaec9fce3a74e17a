// `zo generate`: greedy continuation of a prompt by a language model (HF-format folder), through
// zo::nn::generate_greedy (include/zo/nn/text.hpp).
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/tokenizer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <memory>
#include <string>

namespace zo::app {
namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string tokenizer;
  std::int64_t max_new_tokens = 32;
  bool ignore_eos = false;
  bool ids = false;
};

void run_generate(const GenerateArgs& args) {
  const fs::path tokenizer_path = args.tokenizer.empty() ? fs::path(args.model) / "tokenizer.json" : fs::path(args.tokenizer);
  const nn::Tokenizer tokenizer = nn::Tokenizer::from_file(tokenizer_path);
  nn::Model model = nn::Model::load(args.model);
  nn::check_tokenizer_fits(model, tokenizer, args.model, tokenizer_path);
  const std::vector<std::int32_t> prompt = tokenizer.encode(args.prompt, true);
  nn::GenerateOptions options;
  options.max_new_tokens = args.max_new_tokens;
  if (!args.ignore_eos) options.stop_id = model.config().eos_token_id ? model.config().eos_token_id : tokenizer.eos_id();
  const std::vector<std::int32_t> generated = nn::generate_greedy(model, prompt, options);
  if (args.ids) {
    fmt::print("prompt_ids {}\n", fmt::join(prompt, " "));
    fmt::print("generated_ids {}\n", fmt::join(generated, " "));
  }
  fmt::print("{}{}\n", args.prompt, tokenizer.decode(generated, true));
}

void setup_generate(CLI::App& sub) {
  auto args = std::make_shared<GenerateArgs>();
  sub.add_option("--model", args->model, "HF-format model folder (config.json, model.safetensors)")->required();
  sub.add_option("--prompt", args->prompt, "text to continue")->required();
  sub.add_option("--tokenizer", args->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  sub.add_option("--max-new-tokens", args->max_new_tokens, "tokens to generate (>= 0)")->capture_default_str();
  sub.add_flag("--ignore-eos", args->ignore_eos, "keep generating after the end-of-sequence token");
  sub.add_flag("--ids", args->ids, "also print the prompt's and the generated token ids");
  sub.callback([args] { run_generate(*args); });
}

const bool registered = register_command(
    {"generate", "Greedy text generation from a prompt with a language model", setup_generate});

}  // namespace
}  // namespace zo::app
