// Hugging Face tokenizer.json files: byte-level BPE (GPT-2 / OPT / Llama-3 style, with the
// pre-tokenizer split rules the file declares) and SentencePiece-style BPE with byte fallback
// (LLaMA-2 style: Metaspace / "▁" handling, <0xNN> byte tokens), including added / special tokens.
// Ids must equal Hugging Face tokenizers' own for the same file and text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo::nn {

class Tokenizer {
 public:
  // Parses tokenizer.json; throws zo::Error naming the file and the field it cannot use (an
  // unsupported model type, normalizer, pre-tokenizer or decoder says which).
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text`; with add_special_tokens, the post-processor's tokens (e.g. BOS) are added.
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = true) const;

  std::int64_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  std::optional<std::int32_t> pad_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zo::nn
