// Hostile inputs to the tasks layer's loaders — task JSONL, custom templates, IDX — that crashed
// them or could have: the inputs the fuzz targets found (fuzz/, docs/reliability.md), kept byte for
// byte, and their kin. Each must be refused with a zo::Error naming the file and line.
#include "../test_util.hpp"

#include "zo/tasks/dataset.hpp"
#include "zo/tasks/idx.hpp"
#include "zo/tasks/prompt.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using zo::test::expect_error;

void put(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Found by dataset_fuzz: a line holding a number beyond double's range made nlohmann::json throw
// out_of_range, which read_jsonl did not catch.
TEST(HostileInput, JsonlRefusesANumberBeyondDouble) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_tasks_");
  put(dir / "found.jsonl", "888800000.000000000E0000000005124095304056731005");
  expect_error([&] { zo::tasks::read_jsonl(dir / "found.jsonl"); }, {"found.jsonl:1", "not valid JSON", "number overflow"});
  put(dir / "label.jsonl", "{\"sentence\": \"fine\", \"label\": 0}\n{\"sentence\": \"x\", \"label\": -1e400}\n");
  expect_error([&] { zo::tasks::read_jsonl(dir / "label.jsonl"); }, {"label.jsonl:2", "not valid JSON"});
  fs::remove_all(dir);
}

// A record nested 200 000 levels deep: printing it in an error (a label that is not a class) recursed
// once per level and overflowed the stack.
TEST(HostileInput, JsonlRefusesNestingDeeperThanTheLimit) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_tasks_");
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  put(dir / "deep.jsonl", "{\"sentence\": \"a\", \"label\": 1}\n{\"sentence\": \"b\", \"label\": " + deep + "}\n");
  expect_error([&] { zo::tasks::read_jsonl(dir / "deep.jsonl"); }, {"deep.jsonl:2", "JSON nested deeper than 256 levels"});
  // Nesting up to the limit reads, and a label that is not a class is an error naming the field.
  put(dir / "ok.jsonl", "{\"sentence\": \"a\", \"label\": " + std::string(200, '[') + std::string(200, ']') + "}\n");
  const auto records = zo::tasks::read_jsonl(dir / "ok.jsonl");
  ASSERT_EQ(records.size(), 1u);
  expect_error([&] { zo::tasks::PromptTemplate::builtin(zo::tasks::TaskKind::sst2).render(records[0]); },
               {"ok.jsonl:1", "field 'label'"});
  fs::remove_all(dir);
}

std::string gzip(std::string_view bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, uLong(bytes.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = uInt(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A gzipped IDX file is inflated only as far as its header promises (see also
// tests/train/bounded_memory_test.cpp): more data is an error as soon as it appears.
TEST(HostileInput, GzippedIdxStopsAtWhatItsHeaderPromises) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_tasks_");
  const std::string header("\0\0\x08\x01\0\0\0\x03", 8);
  put(dir / "long.gz", gzip(header + std::string(1 << 20, '\1')));
  expect_error([&] { zo::tasks::read_idx(dir / "long.gz"); }, {"long.gz", "longer than its header", "promises 3 bytes"});
  put(dir / "ok.gz", gzip(header + std::string("\0\1\2", 3)));
  EXPECT_EQ(zo::tasks::read_idx(dir / "ok.gz", 1).data, (std::vector<std::uint8_t>{0, 1, 2}));
  put(dir / "bad_magic.gz", gzip(std::string("\1\0\x08\x01", 4) + std::string(1 << 20, '\0')));
  expect_error([&] { zo::tasks::read_idx(dir / "bad_magic.gz"); }, {"bad_magic.gz", "bad IDX magic"});
  put(dir / "overflow.gz", gzip(std::string("\0\0\x08\x03", 4) + std::string(12, '\xff') + std::string(1 << 16, '\0')));
  expect_error([&] { zo::tasks::read_idx(dir / "overflow.gz"); }, {"overflow.gz", "dimensions overflow"});
  fs::remove_all(dir);
}

}  // namespace
