// Shared by the libFuzzer targets in fuzz/: a scratch folder per process and whole-file writes.
//
// A target feeds its input to one loader the way zo reads that file, and catches zo::Error (a clean
// rejection) and nothing else: any other exception, a crash, a leak or undefined behaviour is a bug
// that libFuzzer reports. Built by the ZO_FUZZ configuration (CMakeLists.txt, scripts/fuzz.sh).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace zo::fuzz {

// <tmp>/zo-fuzz-<name>-<pid>/ ($TMPDIR or /tmp), created on first use and removed when the process
// exits normally; folders left by processes that are gone are removed then too.
inline const std::filesystem::path& scratch(const char* name) {
  static const std::filesystem::path dir = [&] {
    const char* tmp = std::getenv("TMPDIR");
    const std::filesystem::path root = tmp && *tmp ? tmp : "/tmp";
    const std::string prefix = "zo-fuzz-" + std::string(name) + "-";
    // Folders of runs that ended without removing theirs (a crash exits at once): their process is gone.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
      const std::string leaf = e.path().filename().string();
      if (!leaf.starts_with(prefix)) continue;
      const long pid = std::strtol(leaf.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
    }
    std::filesystem::path d = root / (prefix + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    static const std::filesystem::path for_exit = d;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(for_exit, ec);
    });
    return d;
  }();
  return dir;
}

// Writes `bytes` to `path` (plain stdio: the harness's own files need no durability).
inline void put_file(const std::filesystem::path& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Folds bytes into a value the compiler cannot drop: touching every byte of a view lets ASan see
// a view that points outside its buffer.
inline std::uint64_t touch(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

inline volatile std::uint64_t sink = 0;

}  // namespace zo::fuzz
