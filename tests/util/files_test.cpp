// read_file and the one atomic-write rule: a reader sees the old file or the new one; failures name
// the file and leave no temporary file behind.
#include "zo/util/files.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(Files, WriteFileAtomicReplacesTheWholeFileAndLeavesNoTemporary) {
  const fs::path dir = zo::test::fresh_dir("zo_files_");
  zo::write_file_atomic(dir / "a.txt", "first version, longer");
  zo::write_file_atomic(dir / "a.txt", "second");
  EXPECT_EQ(zo::read_file(dir / "a.txt"), "second");
  EXPECT_EQ(entries(dir), 1u);
  fs::remove_all(dir);
}

TEST(Files, AWriterDestroyedWithoutCommitLeavesTheTargetAsItWas) {
  const fs::path dir = zo::test::fresh_dir("zo_files_");
  zo::write_file_atomic(dir / "w.bin", "old");
  {
    zo::AtomicFileWriter w(dir / "w.bin");
    w.write("new bytes that are never committed");
  }
  EXPECT_EQ(zo::read_file(dir / "w.bin"), "old");
  EXPECT_EQ(entries(dir), 1u);
  {
    zo::AtomicFileWriter w(dir / "w.bin");
    w.write("new ");
    w.write(std::string("pieces"));
    w.commit();
  }
  EXPECT_EQ(zo::read_file(dir / "w.bin"), "new pieces");
  EXPECT_EQ(entries(dir), 1u);
  fs::remove_all(dir);
}

TEST(Files, FailuresNameTheFileAndTheReason) {
  const fs::path dir = zo::test::fresh_dir("zo_files_");
  zo::test::expect_error([&] { zo::read_file(dir / "missing.json", "config file"); },
                         {(dir / "missing.json").string(), "cannot open the config file", "No such file"});
  zo::test::expect_error([&] { zo::write_file_atomic(dir / "no" / "such" / "folder.txt", "x"); },
                         {(dir / "no" / "such" / "folder.txt").string(), "No such file"});
  zo::test::expect_error([&] { zo::write_file_atomic("", "x"); }, {"empty path"});
  zo::test::expect_error([&] { zo::fsync_directory(dir / "absent"); }, {(dir / "absent").string()});
  EXPECT_EQ(entries(dir), 0u);
  fs::remove_all(dir);
}

}  // namespace
