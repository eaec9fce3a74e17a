// Helpers shared by the test programs: error-message checks and per-test scratch folders.
#pragma once

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace zo::test {

// Runs f and expects a zo::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no zo::Error thrown";
  } catch (const zo::Error& e) {
    const std::string m = e.what();
    for (const auto& part : parts) EXPECT_NE(m.find(part), std::string::npos) << "message: " << m << "\nlacks: " << part;
  }
}

// The current test's name as one file name: a parameterised test's "Name/3" becomes "Name_3".
inline std::string test_file_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? info->name() : "outside_a_test";
  for (char& c : name)
    if (c == '/') c = '_';
  return name;
}

// An empty folder <tmp>/<prefix><current test's name>, made afresh.
inline std::filesystem::path fresh_dir(const std::string& prefix) {
  std::filesystem::path d = std::filesystem::temp_directory_path() / (prefix + test_file_name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A per-test scratch folder, <tmp>/zo_test_<pid>_[<tag>_]<current test's name> (fresh_dir's), removed with
// everything in it at destruction. Folders that live at once in one test need different tags.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "")
      : path(fresh_dir("zo_test_" + std::to_string(::getpid()) + "_" + (tag.empty() ? "" : tag + "_"))) {}
  ~TempDir() {
    std::error_code ignored;  // a destructor must not throw; a folder left behind is harmless
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// The whole file as bytes ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The first `n` comma-separated columns of every line of file `p` (a log's columns before its timings).
inline std::string leading_columns(const std::filesystem::path& p, int n) {
  std::istringstream in(slurp(p));
  std::string line, out;
  while (std::getline(in, line)) {
    std::size_t cut = 0;
    for (int i = 0; i < n && cut != std::string::npos; ++i) cut = line.find(',', cut + (i ? 1 : 0));
    out += line.substr(0, cut) + "\n";
  }
  return out;
}

// build/zo, the binary the command tests run.
inline std::string zo_binary() { return std::string(ZO_BINARY_DIR) + "/zo"; }

// In a forked child: replaces the process with argv[0] run with argv (no shell); exits 127 when that
// fails.
[[noreturn]] inline void exec_or_exit(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

// Waits for child `pid` to end: its exit status, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs argv[0] with argv (no shell), appending stdout to `out` and stderr to `err` (they may be one
// file), with `env` added to the environment. Returns the exit status, or 128 + the ending signal.
inline int run_program(const std::vector<std::string>& argv, const std::filesystem::path& out,
                       const std::filesystem::path& err,
                       const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (std::freopen(out.c_str(), "a", stdout) == nullptr) ::_exit(126);
    if (err == out ? ::dup2(::fileno(stdout), ::fileno(stderr)) < 0 : std::freopen(err.c_str(), "a", stderr) == nullptr)
      ::_exit(126);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    exec_or_exit(argv);
  }
  return wait_exit(pid);
}

}  // namespace zo::test
