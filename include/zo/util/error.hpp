// zo::Error: the one exception type zo's library code throws at its API boundary.
// Library code never calls abort() or exit(): a Python session or a long training run must survive
// a bad input. Messages name the file, field or value at fault, and the rule it broke.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace zo {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// fail("option '{}' = {}: must be > 0", name, value) throws zo::Error with the formatted message.
template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace zo
