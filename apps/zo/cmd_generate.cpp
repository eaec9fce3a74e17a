// `zo generate`: continues a prompt with a language model (HF-format folder) through
// zo::nn::generate (include/zo/nn/generate.hpp), greedily or sampled, with a KV cache, printing the
// text as it is generated. Its generation options are zo::nn::generate_option_list()'s.
#include "command.hpp"
#include "option_binding.hpp"

#include "zo/util/error.hpp"
#include "zo/nn/generate.hpp"
#include "zo/nn/model.hpp"
#include "zo/nn/text.hpp"
#include "zo/nn/text_stream.hpp"
#include "zo/nn/tokenizer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace zo::app {
namespace {

namespace fs = std::filesystem;
using nn::GenerateOptions;

struct GenerateArgs {
  std::string model;
  std::string prompt;
  std::string tokenizer;
  bool ignore_eos = false;
  bool ids = false;
  bool stats = false;
};

void write(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);  // the text appears as it is generated, also through a pipe
}

void run_generate(const GenerateArgs& args, const OptionBinding<GenerateOptions>& binding) {
  GenerateOptions options;
  binding.apply(options);
  OptionBinding<GenerateOptions>::usage_errors([&] { options.validate(); });

  const fs::path tokenizer_path = args.tokenizer.empty() ? fs::path(args.model) / "tokenizer.json" : fs::path(args.tokenizer);
  const nn::Tokenizer tokenizer = nn::Tokenizer::from_file(tokenizer_path);
  nn::Model model = nn::Model::load(args.model);
  nn::check_tokenizer_fits(model, tokenizer, args.model, tokenizer_path);
  const std::vector<std::int32_t> prompt = tokenizer.encode(args.prompt, true);
  const std::int64_t limit = model.config().max_positions;
  // Too long a prompt, or (--on-limit error) too many new tokens for the model's positions: a usage
  // error naming the flag, before anything is generated.
  OptionBinding<GenerateOptions>::usage_errors(
      [&] { nn::check_position_limit(model.config(), std::int64_t(prompt.size()), options); });
  if (!args.ignore_eos) options.stop_id = model.config().eos_token_id ? model.config().eos_token_id : tokenizer.eos_id();

  if (args.ids) fmt::print("prompt_ids {}\n", fmt::join(prompt, " "));
  write(args.prompt);
  nn::TextStream stream(tokenizer);
  const nn::GenerateResult result =
      nn::generate(model, prompt, options, [&](std::int32_t token, std::span<const float>) { write(stream.push(token)); });
  write(stream.finish() + "\n");
  if (args.ids) fmt::print("generated_ids {}\n", fmt::join(result.tokens, " "));
  std::fflush(stdout);

  const auto n = std::int64_t(result.tokens.size()), P = std::int64_t(prompt.size());
  if (result.stop == nn::StopReason::position_limit)
    fmt::print(stderr,
               "zo generate: stopped after {} of --max-new-tokens {} new tokens: prompt ({} tokens) + {} = {} reached "
               "the model's max_position_embeddings = {} (--on-limit stop)\n",
               n, options.max_new_tokens, P, n, P + n, limit);
  if (args.stats) {
    const double decode_tokens = double(std::max<std::int64_t>(n - 1, 0));
    fmt::print(stderr,
               "stats prompt_tokens {} new_tokens {} prefill_s {:.6f} decode_s {:.6f} decode_tokens_per_s {:.2f} "
               "kv_cache {} stop {}\n",
               P, n, result.prefill_seconds, result.decode_seconds,
               result.decode_seconds > 0 ? decode_tokens / result.decode_seconds : 0.0, options.no_kv_cache ? "off" : "on",
               nn::to_string(result.stop));
  }
}

void setup_generate(CLI::App& sub) {
  auto args = std::make_shared<GenerateArgs>();
  sub.add_option("--model", args->model, "HF-format model folder (config.json, model.safetensors)")->required();
  sub.add_option("--prompt", args->prompt, "text to continue")->required();
  sub.add_option("--tokenizer", args->tokenizer, "tokenizer.json (default: MODEL/tokenizer.json)");
  sub.add_flag("--ignore-eos", args->ignore_eos, "keep generating after the end-of-sequence token");
  sub.add_flag("--ids", args->ids, "also print the prompt's and the generated token ids");
  sub.add_flag("--stats", args->stats,
               "print timings on stderr: prefill (the prompt and the first token) and decode (each later token) "
               "seconds, decode tokens/s");
  auto binding = std::make_shared<OptionBinding<GenerateOptions>>(sub, nn::generate_option_list());
  sub.footer(
      "The prompt and the generated text are printed as the tokens come (whole UTF-8 characters only). Prompt + "
      "generated tokens never exceed the model's max_position_embeddings: with --on-limit stop, generation stops "
      "there with a message on stderr; with --on-limit error, a run whose prompt + --max-new-tokens exceeds it is "
      "refused (exit 2). A prompt longer than the limit is refused too. Temperature 0 is greedy; otherwise --top-k "
      "then --top-p filter the distribution and --seed makes the draws reproducible.");
  sub.callback([args, binding] { run_generate(*args, *binding); });
}

const bool registered = register_command(
    {"generate", "Text generation from a prompt with a language model (greedy or sampled, KV cache)", setup_generate});

}  // namespace
}  // namespace zo::app
