// The split regexes of GPT-2 and Llama-3, matched by hand over code points. Each alternative below
// is the pattern's alternative of the same number, resolved the way a backtracking engine
// (Oniguruma, which Hugging Face tokenizers uses) resolves it: the first alternative that matches
// at the current position wins, quantifiers are greedy and give back characters one at a time.
#include <array>

#include "tokenizer_internal.hpp"
#include "tokenizer_unicode.hpp"

namespace zo::nn::tokenizer_detail {
namespace {

constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Text {
  std::vector<char32_t> cp;
  std::vector<std::uint8_t> flags;
  std::vector<std::size_t> offset;  // byte offset of each code point, plus the end

  explicit Text(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
      offset.push_back(i);
      const char32_t c = unicode::next_code_point(s, i);
      cp.push_back(c);
      flags.push_back(unicode::flags(c));
    }
    offset.push_back(s.size());
  }
  std::size_t size() const { return cp.size(); }
  bool letter(std::size_t i) const { return i < size() && (flags[i] & unicode::kLetter); }
  bool number(std::size_t i) const { return i < size() && (flags[i] & unicode::kNumber); }
  bool space(std::size_t i) const { return i < size() && (flags[i] & unicode::kWhiteSpace); }
  // [^\s\p{L}\p{N}]
  bool other(std::size_t i) const {
    return i < size() && !(flags[i] & (unicode::kLetter | unicode::kNumber | unicode::kWhiteSpace));
  }
  bool is(std::size_t i, char32_t c) const { return i < size() && cp[i] == c; }
  bool newline(std::size_t i) const { return is(i, U'\r') || is(i, U'\n'); }
  template <class Pred>
  std::size_t run(std::size_t i, Pred pred) const {
    while (i < size() && pred(i)) ++i;
    return i;
  }
};

// Case-insensitive match of an ASCII letter. Only ASCII case pairs: Hugging Face tokenizers does
// not match U+017F LATIN SMALL LETTER LONG S (which Unicode folds to 's') in "(?i:'s)" (checked
// by a golden line).
bool folds_to(char32_t c, char lower) { return c < 128 && (c | 0x20) == static_cast<char32_t>(lower); }

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive. Returns the match length in code points.
std::size_t contraction(const Text& t, std::size_t i, bool ignore_case) {
  if (!t.is(i, U'\'') || i + 1 >= t.size()) return 0;
  auto eq = [&](std::size_t k, char c) {
    if (k >= t.size()) return false;
    return ignore_case ? folds_to(t.cp[k], c) : t.cp[k] == static_cast<char32_t>(c);
  };
  if (eq(i + 1, 's') || eq(i + 1, 't') || eq(i + 1, 'm') || eq(i + 1, 'd')) return 2;
  if ((eq(i + 1, 'r') && eq(i + 2, 'e')) || (eq(i + 1, 'v') && eq(i + 2, 'e')) || (eq(i + 1, 'l') && eq(i + 2, 'l'))) {
    return 3;
  }
  return 0;
}

// \s+(?!\S) then \s+, at a whitespace character i.
std::size_t trailing_space(const Text& t, std::size_t i) {
  const std::size_t j = t.run(i, [&](std::size_t k) { return t.space(k); });
  if (j == t.size()) return j;  // \s+ to the end: nothing follows
  if (j - 1 > i) return j - 1;  // give one back: a whitespace character follows, not \S
  return j;                     // \s+(?!\S) fails; \s+ takes the single character
}

std::size_t match_gpt2(const Text& t, std::size_t i) {
  if (std::size_t n = contraction(t, i, false)) return i + n;
  const std::size_t s = t.is(i, U' ') ? i + 1 : i;  // the optional leading space, if what follows matches
  auto letters = [&](std::size_t k) { return t.letter(k); };
  auto numbers = [&](std::size_t k) { return t.number(k); };
  auto others = [&](std::size_t k) { return t.other(k); };
  if (t.letter(s)) return t.run(s, letters);  // ' ?\p{L}+'
  if (t.number(s)) return t.run(s, numbers);  // ' ?\p{N}+'
  if (t.other(s)) return t.run(s, others);    // ' ?[^\s\p{L}\p{N}]+'
  return trailing_space(t, i);                // '\s+(?!\S)|\s+' (i is whitespace here)
}

std::size_t match_llama3(const Text& t, std::size_t i) {
  if (std::size_t n = contraction(t, i, true)) return i + n;
  auto letters = [&](std::size_t k) { return t.letter(k); };
  auto others = [&](std::size_t k) { return t.other(k); };
  auto newlines = [&](std::size_t k) { return t.newline(k); };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!t.newline(i) && !t.letter(i) && !t.number(i) && t.letter(i + 1)) return t.run(i + 1, letters);
  if (t.letter(i)) return t.run(i, letters);
  // \p{N}{1,3}
  if (t.number(i)) {
    std::size_t j = i;
    while (j < i + 3 && t.number(j)) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const std::size_t s = t.is(i, U' ') && t.other(i + 1) ? i + 1 : i;
  if (t.other(s)) return t.run(t.run(s, others), newlines);
  // \s*[\r\n]+ : the whitespace run up to and including its last \r or \n
  const std::size_t j = t.run(i, [&](std::size_t k) { return t.space(k); });
  for (std::size_t k = j; k > i; --k) {
    if (t.newline(k - 1)) return k;
  }
  return trailing_space(t, i);  // '\s+(?!\S)|\s+'
}

}  // namespace

std::optional<SplitRegex> split_regex_from_pattern(std::string_view pattern) {
  if (pattern == kGpt2Pattern) return SplitRegex::kGpt2;
  if (pattern == kLlama3Pattern) return SplitRegex::kLlama3;
  return std::nullopt;
}

std::string_view split_regex_pattern(SplitRegex regex) {
  return regex == SplitRegex::kGpt2 ? kGpt2Pattern : kLlama3Pattern;
}

std::vector<std::pair<std::size_t, std::size_t>> find_split_matches(SplitRegex regex, std::string_view text) {
  const Text t(text);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = 0; i < t.size();) {
    const std::size_t j = regex == SplitRegex::kGpt2 ? match_gpt2(t, i) : match_llama3(t, i);
    out.emplace_back(t.offset[i], t.offset[j]);
    i = j;
  }
  return out;
}

char32_t byte_char(std::uint8_t b) {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (int v = 0; v < 256; ++v) {
      const bool printable = (v >= '!' && v <= '~') || (v >= 0xA1 && v <= 0xAC) || (v >= 0xAE && v <= 0xFF);
      map[v] = printable ? static_cast<char32_t>(v) : next++;
    }
    return map;
  }();
  return table[b];
}

int char_byte(char32_t cp) {
  static const std::array<std::int16_t, 324> table = [] {
    std::array<std::int16_t, 324> map{};
    map.fill(-1);
    for (int b = 0; b < 256; ++b) map[byte_char(static_cast<std::uint8_t>(b))] = static_cast<std::int16_t>(b);
    return map;
  }();
  return cp < table.size() ? table[cp] : -1;
}

std::string to_byte_level(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) unicode::append_utf8(out, byte_char(static_cast<std::uint8_t>(c)));
  return out;
}

}  // namespace zo::nn::tokenizer_detail
