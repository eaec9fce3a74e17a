// The `zo` command's subcommands register themselves: each cmd_<name>.cpp defines one
//   static const bool registered = zo::app::register_command({"name", "help", setup});
// where setup(CLI::App& sub) declares its options and sets sub.callback. main.cpp builds the CLI from
// the registry, so adding a subcommand touches no other file.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace zo::app {

struct Command {
  std::string name;
  std::string help;
  std::function<void(CLI::App& sub)> setup;
};

bool register_command(Command command);
const std::vector<Command>& commands();

}  // namespace zo::app
