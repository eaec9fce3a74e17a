// Options declared once. An OptionList<T> describes the fields of an options struct T: for each, its
// name — the zo command's flag without "--", the key in a JSON config file, the Python keyword —, its
// help text, and how to set it from text. The struct's default member initializers are the defaults;
// T::validate() checks the values and names the option. Every front end binds through the list, so
// a name, a default or a help text lives in one place.
//
//   struct FooOptions { std::int64_t steps = 100; double lr = 1e-3; bool resume = false; };
//   OptionList<FooOptions> list;
//   list.add("steps", &FooOptions::steps, "training steps")
//       .add("lr", &FooOptions::lr, "learning rate η")
//       .flag("resume", &FooOptions::resume, "continue the run in --out");
//
// Text forms: integers and floating-point numbers as C++ reads them (the whole text must be used);
// booleans true/false/1/0; std::optional<V> as V; std::vector<V> as a comma-separated list.
#pragma once

#include "zo/util/error.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace zo {

namespace option_text {

template <class V>
struct is_optional : std::false_type {};
template <class V>
struct is_optional<std::optional<V>> : std::true_type {};
template <class V>
struct is_vector : std::false_type {};
template <class V>
struct is_vector<std::vector<V>> : std::true_type {};

// Parses `text` as a V; throws zo::Error "option 'NAME' = 'TEXT': RULE".
template <class V>
V parse(std::string_view name, std::string_view text) {
  if constexpr (std::is_same_v<V, std::string>) {
    return std::string(text);
  } else if constexpr (std::is_same_v<V, bool>) {
    if (text == "true" || text == "1") return true;
    if (text == "false" || text == "0") return false;
    fail("option '{}' = '{}': must be true or false", name, text);
  } else if constexpr (std::is_integral_v<V>) {
    V v{};
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec == std::errc::result_out_of_range)
      fail("option '{}' = '{}': {}", name, text, text.empty() ? "empty (expected an integer)" : "out of range");
    if (r.ec != std::errc() || r.ptr != text.data() + text.size())
      fail("option '{}' = '{}': not {}integer", name, text, std::is_signed_v<V> ? "an " : "a non-negative ");
    return v;
  } else if constexpr (std::is_floating_point_v<V>) {
    V v{};
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
      fail("option '{}' = '{}': not a number", name, text);
    return v;
  } else if constexpr (is_optional<V>::value) {
    return V(parse<typename V::value_type>(name, text));
  } else if constexpr (is_vector<V>::value) {
    V out;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = text.find(',', start);
      std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (item.empty()) fail("option '{}' = '{}': empty item in the comma-separated list", name, text);
      out.push_back(parse<typename V::value_type>(name, item));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return out;
  } else {
    static_assert(sizeof(V) == 0, "OptionList: unsupported option type");
  }
}

// What --help shows for a value: INT, UINT, NUMBER, BOOL, TEXT, LIST.
template <class V>
std::string type_name() {
  if constexpr (std::is_same_v<V, bool>) return "BOOL";
  else if constexpr (std::is_integral_v<V>) return std::is_signed_v<V> ? "INT" : "UINT";
  else if constexpr (std::is_floating_point_v<V>) return "NUMBER";
  else if constexpr (is_optional<V>::value) return type_name<typename V::value_type>();
  else if constexpr (is_vector<V>::value) return "LIST";
  else return "TEXT";
}

// The text form of a value ("" for an empty optional); numbers in their shortest exact form.
template <class V>
std::string format(const V& v) {
  if constexpr (std::is_same_v<V, std::string>) {
    return v;
  } else if constexpr (std::is_same_v<V, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_arithmetic_v<V>) {
    return fmt::format("{}", v);
  } else if constexpr (is_optional<V>::value) {
    return v ? format(*v) : std::string();
  } else if constexpr (is_vector<V>::value) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      out += format(v[i]);
    }
    return out;
  } else {
    static_assert(sizeof(V) == 0, "OptionList: unsupported option type");
  }
}

}  // namespace option_text

template <class T>
struct OptionSpec {
  std::string name;                                  // flag without "--", JSON key, Python keyword
  std::string help;
  bool flag = false;                                 // a switch (no value on the command line)
  bool list = false;                                 // a comma-separated list
  std::string type;                                  // INT, UINT, NUMBER, BOOL, TEXT or LIST (for --help)
  std::function<void(T&, std::string_view)> set;    // parses text into the field; throws zo::Error
  std::function<std::string(const T&)> get;          // the field as text
};

template <class T>
class OptionList {
 public:
  // A field reached through a member pointer.
  template <class V>
  OptionList& add(std::string name, V T::*member, std::string help) {
    return add_with(std::move(name), [member](T& t) -> V& { return t.*member; }, std::move(help));
  }
  // A field reached through an accessor (a nested struct's field).
  template <class Access>
  OptionList& add_with(std::string name, Access access, std::string help) {
    using V = std::remove_reference_t<decltype(access(std::declval<T&>()))>;
    OptionSpec<T> spec;
    spec.name = std::move(name);
    spec.help = std::move(help);
    spec.list = option_text::is_vector<V>::value;
    spec.type = option_text::type_name<V>();
    spec.set = [access, n = spec.name](T& t, std::string_view text) { access(t) = option_text::parse<V>(n, text); };
    spec.get = [access](const T& t) { return option_text::format<V>(access(const_cast<T&>(t))); };
    specs_.push_back(std::move(spec));
    return *this;
  }
  // A switch: given = true.
  OptionList& flag(std::string name, bool T::*member, std::string help) {
    add(std::move(name), member, std::move(help));
    specs_.back().flag = true;
    return *this;
  }

  const std::vector<OptionSpec<T>>& specs() const { return specs_; }
  const OptionSpec<T>* find(std::string_view name) const {
    for (const auto& s : specs_)
      if (s.name == name) return &s;
    return nullptr;
  }

 private:
  std::vector<OptionSpec<T>> specs_;
};

// Checks for validate(): each fails with "option 'NAME' = VALUE: RULE" (the form front ends rewrite
// to name their flag) unless its condition holds.
template <class V>
void require_option(bool ok, std::string_view name, const V& value, std::string_view rule) {
  if (!ok) fail("option '{}' = {}: {}", name, value, rule);
}

// A named choice (an optimizer, a schedule …): `parse` (a *_from_string) must accept `value`; its
// message, which lists the valid names, follows the option's name.
template <class Parse>
void require_choice(std::string_view name, const std::string& value, Parse parse) {
  try {
    (void)parse(value);
  } catch (const Error& e) {
    fail("option '{}' = '{}': {}", name, value, e.what());
  }
}

inline bool finite_positive(double v) { return std::isfinite(v) && v > 0.0; }
inline bool in_unit_interval(double v) { return v >= 0.0 && v < 1.0; }  // [0, 1)

}  // namespace zo
