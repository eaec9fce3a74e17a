#include "tokenizer_unicode.hpp"

#include <algorithm>
#include <array>

namespace zo::nn::unicode {
namespace {

std::array<std::uint8_t, 128> make_ascii_flags() {
  std::array<std::uint8_t, 128> table{};
  for (std::size_t r = 0; r < kCodePointRangeCount && kCodePointRanges[r].first < 128; ++r) {
    for (char32_t cp = kCodePointRanges[r].first; cp <= kCodePointRanges[r].last && cp < 128; ++cp) {
      table[cp] = kCodePointRanges[r].flags;
    }
  }
  return table;
}

// Length of the valid UTF-8 sequence at bytes[i], or 0 with `bad` = the length of the maximal
// invalid prefix (the Unicode "maximal subpart" rule, as Rust's Utf8Chunks applies it).
std::size_t utf8_sequence(std::string_view bytes, std::size_t i, std::size_t& bad) {
  auto at = [&](std::size_t k) -> int {
    return i + k < bytes.size() ? static_cast<unsigned char>(bytes[i + k]) : -1;
  };
  auto cont = [](int b) { return b >= 0x80 && b <= 0xBF; };
  const int b0 = at(0);
  bad = 1;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(at(1)) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const int b1 = at(1);
    const bool ok1 = (b0 == 0xE0 && b1 >= 0xA0 && b1 <= 0xBF) || (b0 >= 0xE1 && b0 <= 0xEC && cont(b1)) ||
                     (b0 == 0xED && b1 >= 0x80 && b1 <= 0x9F) || (b0 >= 0xEE && cont(b1));
    if (!ok1) return 0;
    bad = 2;
    return cont(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const int b1 = at(1);
    const bool ok1 = (b0 == 0xF0 && b1 >= 0x90 && b1 <= 0xBF) || (b0 >= 0xF1 && b0 <= 0xF3 && cont(b1)) ||
                     (b0 == 0xF4 && b1 >= 0x80 && b1 <= 0x8F);
    if (!ok1) return 0;
    bad = 2;
    if (!cont(at(2))) return 0;
    bad = 3;
    return cont(at(3)) ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::uint8_t flags(char32_t cp) {
  static const std::array<std::uint8_t, 128> ascii = make_ascii_flags();
  if (cp < 128) return ascii[cp];
  const CodePointRange* end = kCodePointRanges + kCodePointRangeCount;
  const CodePointRange* it =
      std::upper_bound(kCodePointRanges, end, cp, [](char32_t c, const CodePointRange& r) { return c < r.first; });
  if (it == kCodePointRanges) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : 2;
  char32_t cp = b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

char32_t previous_code_point(std::string_view s, std::size_t end, std::size_t& start) {
  start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  std::size_t i = start;
  return next_code_point(s, i);
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view bytes) {
  std::size_t i = 0, bad = 0;
  while (i < bytes.size()) {
    const std::size_t n = utf8_sequence(bytes, i, bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string from_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0, bad = 0;
  while (i < bytes.size()) {
    const std::size_t n = utf8_sequence(bytes, i, bad);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      i += bad;
    } else {
      out.append(bytes.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace zo::nn::unicode
