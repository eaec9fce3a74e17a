// A bound on the regular expressions a user gives (optimizer groups, the weight-decay exemption,
// LoRA targets, block patterns), checked before std::regex compiles them: libstdc++'s compiler
// recurses once per nested group, so a pattern of 100 000 '(' overflows the stack. (Its NFA has a
// state limit of its own, so a huge repetition like a{100000000} is already a clean regex_error.)
#pragma once

#include "zo/util/error.hpp"

#include <cstddef>
#include <string_view>

namespace zo {

inline constexpr std::size_t kMaxPatternLength = 4096;
inline constexpr int kMaxPatternDepth = 64;  // nested groups

// Throws zo::Error "WHAT = 'PATTERN…': RULE" for a pattern longer than kMaxPatternLength characters or
// with groups nested deeper than kMaxPatternDepth.
inline void check_pattern(std::string_view pattern, std::string_view what) {
  const auto shown = [&] { return pattern.size() > 60 ? std::string(pattern.substr(0, 60)) + "…" : std::string(pattern); };
  if (pattern.size() > kMaxPatternLength)
    fail("{} = '{}': {} characters; a pattern may have at most {}", what, shown(), pattern.size(), kMaxPatternLength);
  int depth = 0;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    } else if (c == '(') {
      if (++depth > kMaxPatternDepth) fail("{} = '{}': groups nested deeper than {}", what, shown(), kMaxPatternDepth);
    } else if (c == ')' && depth > 0) {
      --depth;
    }
  }
}

}  // namespace zo
