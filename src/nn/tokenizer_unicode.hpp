// Unicode helpers for the tokenizer: UTF-8 decoding and encoding, Rust's from_utf8_lossy, and the
// character classes the pre-tokenizer patterns use (\p{L}, \p{N}, \s, \w), looked up in generated
// range tables (tokenizer_unicode_tables.cpp, made by scripts/gen_tokenizer_unicode_tables.py).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zo::nn::unicode {

enum Flag : std::uint8_t {
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kWord = 4,        // \w (Rust regex): Alphabetic, marks, Nd, Pc, Join_Control
  kWhiteSpace = 8,  // White_Space: Oniguruma's \s, Rust's char::is_whitespace
};

struct CodePointRange {
  char32_t first;
  char32_t last;
  std::uint8_t flags;
};

extern const CodePointRange kCodePointRanges[];
extern const std::size_t kCodePointRangeCount;
extern const char* const kUnicodeVersion;

std::uint8_t flags(char32_t cp);
inline bool is_letter(char32_t cp) { return (flags(cp) & kLetter) != 0; }
inline bool is_number(char32_t cp) { return (flags(cp) & kNumber) != 0; }
inline bool is_whitespace(char32_t cp) { return (flags(cp) & kWhiteSpace) != 0; }
inline bool is_word(char32_t cp) { return (flags(cp) & kWord) != 0; }

// Decodes the code point starting at byte `i` of valid UTF-8 and advances `i` past it.
char32_t next_code_point(std::string_view s, std::size_t& i);
// Decodes the code point ending at byte `end` (exclusive) of valid UTF-8; sets `start` to its start.
char32_t previous_code_point(std::string_view s, std::size_t end, std::size_t& start);
void append_utf8(std::string& out, char32_t cp);
bool is_valid_utf8(std::string_view bytes);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

}  // namespace zo::nn::unicode
