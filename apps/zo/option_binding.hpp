// The zo command's flags bound to a library options struct through its OptionList: each option
// becomes --NAME with the list's help text and the struct's default, so a name, a default or a help
// text is declared once, in the library; --config FILE reads the same options from a JSON object
// keyed by name (util/option_json.hpp), and flags on the command line win. Errors from parsing a
// value or from the struct's validate() become usage errors (exit 2) that name the flag:
// "option --batch = 0: must be >= 1".
#pragma once

#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"
#include "zo/util/option_json.hpp"
#include "zo/util/option_list.hpp"

#include <CLI/CLI.hpp>

#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace zo::app {

template <class T>
class OptionBinding {
 public:
  // Adds --NAME for every option of `list` to `sub`, and --config.
  OptionBinding(CLI::App& sub, const OptionList<T>& list) : list_(list), command_("zo") {
    for (const CLI::App* a = &sub; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
      command_.insert(2, " " + a->get_name());
    const T defaults{};
    for (const OptionSpec<T>& spec : list.specs()) {
      CLI::Option* opt = nullptr;
      if (spec.flag) {
        opt = sub.add_flag("--" + spec.name, spec.help);
      } else {
        opt = sub.add_option("--" + spec.name, text_[spec.name], spec.help);
        const std::string d = spec.get(defaults);
        if (!d.empty()) opt->default_str(d);
        opt->type_name(spec.type);
      }
      bound_.emplace_back(&spec, opt);
    }
    sub.add_option("--config", config_, "JSON file: any option above by its name (flags on the command line win)")
        ->type_name("FILE");
  }

  // Sets every option given on the command line into `values`, then the --config file's others;
  // `extra` takes config keys that are not options (see apply_json_options).
  void apply(T& values, const std::function<bool(const std::string&, const nlohmann::json&)>& extra = {}) const {
    std::vector<std::string> given;
    for (const auto& [spec, opt] : bound_) {
      if (opt->count() == 0) continue;
      given.push_back(spec->name);
      const std::string text = spec->flag ? std::string("true") : text_.at(spec->name);
      usage_errors([&] { spec->set(values, text); });
    }
    if (config_.empty()) return;
    nlohmann::json json;
    try {
      const std::string text = read_file(config_, "config file");
      check_json_depth(text, config_);  // a deep value (say "template") would be copied recursively
      json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      fail("{}: not valid JSON ({})", config_, e.what());
    }
    apply_json_options(list_, values, json, config_, command_, given, extra);
  }

  // Runs f (a validate() call); a zo::Error becomes a usage error naming the flag.
  template <class F>
  static void usage_errors(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      throw CLI::ValidationError(flag_names(e.what()));
    }
  }

  // "option 'batch'" → "option --batch": the library names an option, the command its flag.
  static std::string flag_names(const std::string& message) {
    static const std::regex option_name("option '([a-z0-9][a-z0-9-]*)'");
    return std::regex_replace(message, option_name, "option --$1");
  }

 private:
  const OptionList<T>& list_;
  std::string command_;                      // "zo finetune"
  std::string config_;                       // --config
  std::map<std::string, std::string> text_;  // what CLI11 captures, by option name (stable addresses)
  std::vector<std::pair<const OptionSpec<T>*, CLI::Option*>> bound_;
};

}  // namespace zo::app
