// A JSON config file for any options struct with an OptionList: one object keyed by option name
// ("per-class" or "per_class"), values as numbers, strings, booleans, or arrays for list options.
// The one config format of every zo command (`--config FILE`); flags given on the command line win.
#pragma once

#include "zo/util/error.hpp"
#include "zo/util/option_list.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

// Sets `options` from `config`. Keys named in `skip` (the command line's) are left alone; a key for
// which `extra(key, value)` returns true is taken by the caller (e.g. a custom template). Throws
// zo::Error naming `where` and the key on an unknown key or a bad value; `command` names the command
// in the message ("zo finetune").
template <class T>
void apply_json_options(const OptionList<T>& list, T& options, const nlohmann::json& config, const std::string& where,
                        std::string_view command, const std::vector<std::string>& skip = {},
                        const std::function<bool(const std::string&, const nlohmann::json&)>& extra = {}) {
  if (!config.is_object()) fail("{}: the config must be a JSON object of option names to values", where);
  for (const auto& [key, value] : config.items()) {
    if (extra && extra(key, value)) continue;
    std::string name = key;
    std::replace(name.begin(), name.end(), '_', '-');
    if (name == "config") fail("{}: key '{}': a config file cannot name another", where, key);
    const OptionSpec<T>* spec = list.find(name);
    if (spec == nullptr) fail("{}: key '{}': not an option of {} (see {} --help)", where, key, command, command);
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;  // given on the command line
    std::string text;
    if (value.is_string()) {
      text = value.template get<std::string>();
    } else if (value.is_boolean() || value.is_number()) {
      text = value.dump();
    } else if (value.is_array() && spec->list) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string() && !value[i].is_number()) fail("{}: key '{}': list items must be strings or numbers", where, key);
        if (i) text += ',';
        text += value[i].is_string() ? value[i].template get<std::string>() : value[i].dump();
      }
    } else {
      fail("{}: key '{}': must be a string, a number or a boolean{}", where, key, spec->list ? " (or an array)" : "");
    }
    try {
      spec->set(options, text);
    } catch (const Error& e) {
      fail("{}: key '{}': {}", where, key, e.what());
    }
  }
}

}  // namespace zo
