// Whole-file reads and the one atomic-write rule (files.hpp).
#include "zo/util/files.hpp"

#include "zo/util/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace zo {

std::string read_file(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the {}: {}", path.string(), what, std::strerror(errno));
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) fail("{}: cannot read the {}", path.string(), what);
  return s.str();
}

void fsync_directory(const std::filesystem::path& dir) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open the folder to fsync it: {}", d.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("{}: fsync of the folder failed: {}", d.string(), std::strerror(err));
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path path) : path_(std::move(path)) {
  if (path_.empty()) fail("cannot write '': empty path");
  // mkstemp: a unique temporary name, so two writers of one target never share a temporary file.
  const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::string leaf = path_.filename().string();
  leaf.insert(0, 1, '.');
  leaf.append(".tmp.XXXXXX");
  std::string name = (dir / leaf).string();
  fd_ = ::mkstemp(name.data());
  if (fd_ < 0) fail("cannot write '{}': {}", path_.string(), std::strerror(errno));
  tmp_ = name;
  if (::fchmod(fd_, 0644) != 0) fail_and_clean("chmod", errno);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::fail_and_clean(std::string_view action, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  fail("cannot write '{}': {} failed: {}", path_.string(), action, std::strerror(err));
}

void AtomicFileWriter::write(const void* data, std::size_t bytes) {
  if (fd_ < 0) fail("cannot write '{}': the writer is closed", path_.string());
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_and_clean("write", errno);
    }
    p += n;
    bytes -= std::size_t(n);
  }
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) fail("cannot write '{}': the writer is closed", path_.string());
  if (::fsync(fd_) != 0) fail_and_clean("fsync", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot write '{}': close failed: {}", path_.string(), std::strerror(err));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot write '{}': rename failed: {}", path_.string(), std::strerror(err));
  }
  fsync_directory(path_.has_parent_path() ? path_.parent_path() : std::filesystem::path("."));
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFileWriter w(path);
  w.write(bytes);
  w.commit();
}

}  // namespace zo
