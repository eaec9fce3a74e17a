// The `zo` command: subcommands from the registry (command.hpp). Library errors (zo::Error) print as
// "zo: error: …" and exit with status 1; usage errors exit with CLI11's status (2 for most).
#include "command.hpp"

#include "zo/core/error.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>

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

int main(int argc, char** argv) {
  CLI::App app{"zo: zeroth-order optimization — training, fine-tuning and attacking models with forward passes only"};
  app.require_subcommand(1);
  auto sorted = zo::app::commands();
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& command : sorted) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    command.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const zo::Error& e) {
    std::fprintf(stderr, "zo: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zo: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
