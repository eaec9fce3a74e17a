// Temporary file + fsync + rename (atomic_file.hpp).
#include "zo/core/atomic_file.hpp"

#include "zo/core/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace zo {

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  if (path.empty()) fail("cannot write '': empty path");
  // The pid keeps two processes writing the same target from sharing a temporary file.
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp{}", static_cast<long>(::getpid()));
  auto failure = [&](int err) {
    ::unlink(tmp.c_str());
    fail("cannot write '{}': {}", path.string(), std::strerror(err));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write '{}': {}", path.string(), std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      failure(err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    failure(err);
  }
  if (::close(fd) != 0) failure(errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) failure(errno);
}

}  // namespace zo
