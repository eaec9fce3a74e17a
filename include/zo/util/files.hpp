// Files, read whole and written so that nothing is lost.
//
// One durability rule for every file zo writes that a later run depends on (weights, checkpoints,
// summaries, logs rewritten on resume): write a temporary file in the target's folder, fsync it,
// rename it over the target (POSIX rename is atomic), then fsync the folder so the rename itself
// survives a power cut. A reader sees the old file or the complete new one, never a part. Every
// failure (a missing folder, no permission, a full disk) throws zo::Error naming the file and the
// system's reason, and leaves no temporary file behind.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace zo {

// The whole file as bytes. Throws zo::Error "PATH: cannot open the WHAT: REASON" (`what` says what
// the file is for the reader: "tokenizer file", "config file" …).
std::string read_file(const std::filesystem::path& path, std::string_view what = "file");

// Writes `bytes` to `path` by the rule above.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// fsync of a folder: makes a rename or a new entry in it durable. Throws zo::Error naming it.
void fsync_directory(const std::filesystem::path& dir);

// A file written in pieces by the same rule: the bytes go to a temporary file beside `path`;
// commit() fsyncs, renames and fsyncs the folder. Destroyed without commit(), it removes the
// temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);  // throws zo::Error when the file cannot be created
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  void write(const void* data, std::size_t bytes);  // throws zo::Error naming the target
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();                                     // throws zo::Error naming the target

 private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  void fail_and_clean(std::string_view action, int err);
};

}  // namespace zo
