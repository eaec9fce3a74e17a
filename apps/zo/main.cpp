// The `zo` command: subcommands from the registry (command.hpp). Exit status: 0 on success and for
// --help and --version; 2 for a usage error (any command-line parse error, with CLI11's message; an
// unknown command names the closest one; `zo` or `zo bench` alone prints the usage); 1 for a runtime
// error (zo::Error or another std::exception, printed as "zo: error: …").
//
// When OpenBLAS fell back to its generic kernels on a CPU it does not know (zo/nn/blas.hpp), zo
// starts itself again once with OPENBLAS_CORETYPE naming the kernels the CPU can run: OpenBLAS reads
// it only when it loads. An OPENBLAS_CORETYPE already set is left as is.
#include "command.hpp"

#include "zo/nn/blas.hpp"
#include "zo/util/error.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#ifndef ZO_VERSION
#error "ZO_VERSION must be defined (CMakeLists.txt passes the project version to the zo target)"
#endif

namespace zo::app {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

const std::vector<Command>& commands() { return registry(); }

}  // namespace zo::app

namespace {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

// Edit distance with adjacent transpositions (optimal string alignment): "bnech" is one edit from "bench".
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The command the user most likely meant: the only one `typed` is a prefix of, else the closest by edit
// distance when it is within max(2, a third of the typed length); none when nothing is that close.
std::optional<std::string> closest_command(const std::string& typed, const std::vector<std::string>& names) {
  std::vector<std::string> prefixed;
  for (const auto& name : names)
    if (name.starts_with(typed)) prefixed.push_back(name);
  if (prefixed.size() == 1) return prefixed.front();
  std::optional<std::string> best;
  std::size_t best_distance = std::max<std::size_t>(2, typed.size() / 3) + 1;
  for (const auto& name : names) {
    const std::size_t distance = edit_distance(typed, name);
    if (distance < best_distance) {
      best_distance = distance;
      best = name;
    }
  }
  return best;
}

// "zo" or "zo bench": how the user calls `app`.
std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app->get_parent() != nullptr; app = app->get_parent()) path = " " + app->get_name() + path;
  return "zo" + path;
}

// Reports a parse error and returns the exit status: 0 for --help and --version, 2 for the rest.
int report_parse_error(CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return app.exit(e);
  // The innermost command the parse reached; an unknown command or a missing one is reported there.
  CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  std::vector<std::string> names;
  for (const CLI::App* sub : at->get_subcommands([](CLI::App* s) { return !s->get_name().empty() && !s->get_disabled(); }))
    names.push_back(sub->get_name());
  if (!names.empty()) {
    const std::vector<std::string> left = at->remaining();
    if (!left.empty() && !left.front().starts_with("-")) {
      const std::string& typed = left.front();
      if (const auto guess = closest_command(typed, names)) {
        std::fprintf(stderr, "%s: unknown command '%s'. Did you mean '%s'?\n", command_path(at).c_str(), typed.c_str(),
                     guess->c_str());
      } else {
        std::string list;
        for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
        std::fprintf(stderr, "%s: unknown command '%s'. Commands: %s (see %s --help)\n", command_path(at).c_str(),
                     typed.c_str(), list.c_str(), command_path(at).c_str());
      }
      return kUsageError;
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && std::string(e.what()).find("ubcommand") != std::string::npos) {
      if (left.empty()) {  // `zo` or `zo bench` alone: the usage, with the list of commands
        std::cerr << (at->get_parent() != nullptr ? at->help(command_path(at->get_parent())) : at->help());
        return kUsageError;
      }
      // Only options, none of them known here (ExtrasError lists its arguments last to first).
      app.exit(CLI::ExtrasError(std::vector<std::string>(left.rbegin(), left.rend())));
      return kUsageError;
    }
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e) != nullptr) {
    // A value the library's options refused (option_binding.hpp): the message names the flag.
    std::fprintf(stderr, "zo: error: %s\nRun with --help for more information.\n", e.what());
    return kUsageError;
  }
  app.exit(e);
  return kUsageError;
}

}  // namespace

int main(int argc, char** argv) {
  if (const std::string core = zo::nn::blas_core_upgrade(); !core.empty()) {
    ::setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    ::execv("/proc/self/exe", argv);  // returns only when it failed: go on with the generic kernels
  }
  CLI::App app{"zo: zeroth-order optimization — training, fine-tuning and attacking models with forward passes only",
               "zo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("zo ") + ZO_VERSION + " (OpenBLAS " + zo::nn::blas_core() + ", " +
                           zo::nn::blas_threading() + ")",
                       "print the version and the OpenBLAS kernels and threading in use "
                       "(zo X.Y.Z (OpenBLAS Haswell, OpenMP)) and exit");
  auto sorted = zo::app::commands();
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& command : sorted) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    command.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e);
  } catch (const zo::Error& e) {
    std::fprintf(stderr, "zo: error: %s\n", e.what());
    return kRuntimeError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zo: error: %s\n", e.what());
    return kRuntimeError;
  }
  return 0;
}
