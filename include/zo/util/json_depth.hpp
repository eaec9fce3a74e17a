// A bound on JSON nesting, checked on a file's text before it is parsed. nlohmann::json parses and
// destroys values of any depth without recursion, but copying, comparing and printing one recurse
// once per level: a file holding a value nested a few hundred thousand levels deep (a few hundred KB
// of '[') would overflow the stack there. Every zo loader of JSON text refuses deeper nesting first.
#pragma once

#include "zo/util/error.hpp"

#include <string_view>

namespace zo {

inline constexpr int kMaxJsonDepth = 256;  // far above any file zo reads (a tokenizer.json nests ~6)

// Throws zo::Error "WHERE: JSON nested deeper than 256 levels (at byte N)" when arrays and objects
// in `text` (outside strings) nest deeper than kMaxJsonDepth. Malformed text is left to the parser.
inline void check_json_depth(std::string_view text, std::string_view where) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) fail("{}: JSON nested deeper than {} levels (at byte {})", where, kMaxJsonDepth, i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace zo
