// Internals of zo::nn::Tokenizer shared by its source files: the pieces a text is cut into, the
// hand-written split patterns, the byte-level alphabet and the BPE model. Each follows the
// Hugging Face tokenizers (Rust) behaviour named in its comment, so that ids match exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace zo::nn::tokenizer_detail {

// A split of the input: text still to be tokenized, or an added token already resolved to its id.
struct Piece {
  std::string text;
  std::int32_t added_id = -1;  // >= 0: this piece is that added token
  bool at_start = false;       // begins at offset 0 of the original input (Metaspace "first")
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// The split regexes we implement by hand (Oniguruma semantics: leftmost-first alternation with
// backtracking), identified by their exact pattern text in tokenizer.json.
enum class SplitRegex {
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kLlama3,  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
};
std::optional<SplitRegex> split_regex_from_pattern(std::string_view pattern);
std::string_view split_regex_pattern(SplitRegex regex);
// The matches of `regex` in `text` (valid UTF-8) as [begin, end) byte ranges, in order. The
// patterns match every character, so the ranges tile the text.
std::vector<std::pair<std::size_t, std::size_t>> find_split_matches(SplitRegex regex, std::string_view text);

// GPT-2's bytes_to_unicode: byte b is written as the UTF-8 of code point byte_char(b).
char32_t byte_char(std::uint8_t b);
// The byte a byte-level character stands for, or -1.
int char_byte(char32_t cp);
// `text` with every byte replaced by its byte-level character.
std::string to_byte_level(std::string_view text);

// Byte-pair encoding over a vocabulary and ranked merges (tokenizers' models::bpe::BPE, without
// dropout).
class BpeModel {
 public:
  struct Options {
    std::optional<std::string> unk_token;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
  };

  // Throws zo::Error (prefixed by `where`) when a merge names a token missing from the vocabulary.
  BpeModel(StringMap<std::int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           Options options, const std::string& where);
  BpeModel(BpeModel&& other) noexcept;

  // Appends the ids of `word` (one pre-tokenized piece) to `out`.
  void tokenize(std::string_view word, std::vector<std::int32_t>& out) const;

  std::optional<std::int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(std::int32_t id) const;
  std::int32_t max_id() const { return max_id_; }
  std::size_t size() const { return vocab_.size(); }

 private:
  struct MergeTarget {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  std::vector<std::int32_t> merge_word(std::string_view word) const;
  const MergeTarget* find_merge(std::int32_t left, std::int32_t right) const;

  StringMap<std::int32_t> vocab_;
  std::unordered_map<std::int32_t, std::string> vocab_r_;
  std::unordered_map<std::uint64_t, MergeTarget> merges_;
  Options options_;
  std::optional<std::int32_t> unk_id_;
  std::int32_t byte_ids_[256];  // <0xNN> tokens, -1 where absent
  std::int32_t max_id_ = -1;

  // Words already merged, as tokenizers caches them: at most kCacheCapacity words (then the cache
  // starts over), each shorter than kCacheMaxWordBytes.
  static constexpr std::size_t kCacheCapacity = 1 << 16;
  static constexpr std::size_t kCacheMaxWordBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<std::int32_t>> cache_;
};

}  // namespace zo::nn::tokenizer_detail
