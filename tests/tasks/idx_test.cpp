// IDX reader: corrupt files made here, and the real Fashion-MNIST files checked against numpy's reading
// of them (tests/tasks/data/idx_golden.json, made by make_idx_golden.py with gzip + numpy).
#include "zo/tasks/idx.hpp"

#include "zo/util/error.hpp"
#include "../test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::tasks::read_idx;

using zo::test::expect_error;

namespace {

fs::path temp_dir() { return zo::test::fresh_dir("zo_idx_test_"); }

std::vector<std::uint8_t> idx_bytes(std::uint8_t dtype, std::vector<std::uint32_t> dims, std::size_t data_bytes,
                                    std::uint8_t fill = 1) {
  std::vector<std::uint8_t> b = {0, 0, dtype, std::uint8_t(dims.size())};
  for (auto d : dims) {
    b.push_back(std::uint8_t(d >> 24));
    b.push_back(std::uint8_t(d >> 16));
    b.push_back(std::uint8_t(d >> 8));
    b.push_back(std::uint8_t(d));
  }
  b.insert(b.end(), data_bytes, fill);
  return b;
}

void write_plain(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

void write_gz(const fs::path& p, const std::vector<std::uint8_t>& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), unsigned(b.size())), int(b.size()));
  gzclose(f);
}

}  // namespace

TEST(Idx, ReadsPlainAndGzippedFilesAlike) {
  const auto d = temp_dir();
  auto b = idx_bytes(0x08, {2, 3, 4}, 24);
  for (std::size_t i = 16; i < b.size(); ++i) b[i] = std::uint8_t(i * 7);
  write_plain(d / "a.idx", b);
  write_gz(d / "a.idx.gz", b);
  const auto plain = read_idx(d / "a.idx", 3);
  const auto gz = read_idx(d / "a.idx.gz", 3);
  EXPECT_EQ(plain.dims, (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(gz.dims, plain.dims);
  ASSERT_EQ(plain.data.size(), 24u);
  EXPECT_EQ(plain.data, gz.data);
  EXPECT_EQ(plain.data[0], std::uint8_t(16 * 7));
  EXPECT_EQ(plain.data[23], std::uint8_t(39 * 7));
}

TEST(Idx, MissingFileIsAnErrorNamingIt) {
  const auto d = temp_dir();
  expect_error([&] { read_idx(d / "nothing.idx"); }, {"nothing.idx", "no such file"});
}

TEST(Idx, BadMagicIsAnErrorNamingTheFile) {
  const auto d = temp_dir();
  auto b = idx_bytes(0x08, {4}, 4);
  b[0] = 0x12;
  write_plain(d / "magic.idx", b);
  expect_error([&] { read_idx(d / "magic.idx"); }, {"magic.idx", "bad IDX magic"});
}

TEST(Idx, UnsupportedDtypeIsNamed) {
  const auto d = temp_dir();
  write_plain(d / "float.idx", idx_bytes(0x0D, {2}, 8));
  expect_error([&] { read_idx(d / "float.idx"); }, {"float.idx", "0x0d", "float32"});
}

TEST(Idx, WrongNumberOfDimensionsIsAnError) {
  const auto d = temp_dir();
  write_plain(d / "dims.idx", idx_bytes(0x08, {2, 2}, 4));
  expect_error([&] { read_idx(d / "dims.idx", 3); }, {"dims.idx", "2 dimensions, expected 3"});
}

TEST(Idx, TruncatedHeaderAndDataAreErrors) {
  const auto d = temp_dir();
  auto b = idx_bytes(0x08, {10, 28, 28}, 10 * 28 * 28);
  write_plain(d / "short_header.idx", std::vector<std::uint8_t>(b.begin(), b.begin() + 9));
  expect_error([&] { read_idx(d / "short_header.idx"); }, {"short_header.idx", "truncated IDX header"});
  write_plain(d / "short_data.idx", std::vector<std::uint8_t>(b.begin(), b.end() - 1));
  expect_error([&] { read_idx(d / "short_data.idx"); }, {"short_data.idx", "truncated IDX data", "7840", "7839"});
  auto longer = b;
  longer.push_back(0);
  write_plain(d / "long_data.idx", longer);
  expect_error([&] { read_idx(d / "long_data.idx"); }, {"long_data.idx", "longer than its header"});
  write_plain(d / "tiny.idx", {0, 0});
  expect_error([&] { read_idx(d / "tiny.idx"); }, {"tiny.idx", "too short"});
}

TEST(Idx, TruncatedGzipStreamIsAnError) {
  const auto d = temp_dir();
  auto b = idx_bytes(0x08, {100, 28, 28}, 100 * 28 * 28);
  for (std::size_t i = 16; i < b.size(); ++i) b[i] = std::uint8_t((i * 2654435761u) >> 13);  // incompressible-ish
  write_gz(d / "full.gz", b);
  std::ifstream in(d / "full.gz", std::ios::binary);
  std::vector<std::uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 100u);
  write_plain(d / "cut.gz", std::vector<std::uint8_t>(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2)));
  expect_error([&] { read_idx(d / "cut.gz"); }, {"cut.gz", "truncated gzip"});
  auto corrupt = gz;
  for (std::size_t i = 20; i < 60; ++i) corrupt[i] ^= 0xA5;
  write_plain(d / "corrupt.gz", corrupt);
  EXPECT_THROW(read_idx(d / "corrupt.gz"), zo::Error);
}

TEST(Idx, DatasetChecksCountsAndLabelRange) {
  const auto d = temp_dir();
  write_plain(d / "img.idx", idx_bytes(0x08, {3, 2, 2}, 12));
  write_plain(d / "lab3.idx", idx_bytes(0x08, {3}, 3, 9));
  write_plain(d / "lab4.idx", idx_bytes(0x08, {4}, 4, 1));
  write_plain(d / "lab_bad.idx", idx_bytes(0x08, {3}, 3, 10));
  const auto ok = zo::tasks::read_idx_dataset(d / "img.idx", d / "lab3.idx");
  EXPECT_EQ(ok.count, 3);
  EXPECT_EQ(ok.rows, 2);
  EXPECT_EQ(ok.labels[2], 9);
  std::vector<float> x(4);
  ok.image(1, x.data());
  EXPECT_FLOAT_EQ(x[0], 1.0f / 255.0f);
  expect_error([&] { zo::tasks::read_idx_dataset(d / "img.idx", d / "lab4.idx"); },
               {"img.idx", "3 images", "lab4.idx", "4 labels"});
  expect_error([&] { zo::tasks::read_idx_dataset(d / "img.idx", d / "lab_bad.idx"); },
               {"lab_bad.idx", "label 10", "[0, 10)"});
  // Labels given where images are expected: the dimension check names the file.
  expect_error([&] { zo::tasks::read_idx_dataset(d / "lab3.idx", d / "lab3.idx"); }, {"lab3.idx", "expected 3"});
}

TEST(Idx, MissingSplitFilesNameTheFolderAndNames) {
  const auto d = temp_dir();
  expect_error([&] { zo::tasks::load_mnist_split(d, zo::tasks::Split::test); },
               {d.string(), "t10k-images-idx3-ubyte.gz"});
  expect_error([&] { zo::tasks::load_mnist_split(d / "absent", zo::tasks::Split::test); }, {"absent", "not a directory"});
}

TEST(Idx, RealFashionMnistMatchesNumpy) {
  const fs::path dir{zo::tasks::kDebianFashionMnistDir};
  if (!fs::exists(dir / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed at " << dir;
  std::ifstream in(fs::path(ZO_SOURCE_DIR) / "tests/tasks/data/idx_golden.json");
  ASSERT_TRUE(in) << "golden file missing";
  const auto golden = nlohmann::json::parse(in);
  for (auto split : {zo::tasks::Split::train, zo::tasks::Split::test}) {
    const auto& g = golden.at(std::string(zo::tasks::to_string(split)));
    const auto ds = zo::tasks::load_mnist_split(dir, split);
    ASSERT_EQ(ds.count, g.at("count").get<std::int64_t>());
    ASSERT_EQ(ds.rows, 28);
    ASSERT_EQ(ds.cols, 28);
    const auto picks = g.at("picks").get<std::vector<std::int64_t>>();
    for (std::size_t k = 0; k < picks.size(); ++k) {
      const std::int64_t i = picks[k];
      const auto* p = ds.pixels.data() + i * 784;
      const std::int64_t sum = std::accumulate(p, p + 784, std::int64_t(0));
      EXPECT_EQ(sum, g.at("pixel_sums")[k].get<std::int64_t>()) << "image " << i;
      EXPECT_EQ(int(p[14 * 28 + 14]), g.at("pixel_14_14")[k].get<int>()) << "image " << i;
      EXPECT_EQ(int(ds.labels[std::size_t(i)]), g.at("labels_at_picks")[k].get<int>()) << "image " << i;
    }
    const auto first = g.at("first_labels").get<std::vector<int>>();
    for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(int(ds.labels[i]), first[i]);
    std::vector<std::int64_t> counts(10, 0);
    for (auto l : ds.labels) ++counts[l];
    EXPECT_EQ(counts, g.at("label_counts").get<std::vector<std::int64_t>>());
    const std::int64_t total = std::accumulate(ds.pixels.begin(), ds.pixels.end(), std::int64_t(0));
    EXPECT_EQ(total, g.at("total_pixel_sum").get<std::int64_t>());
  }
}
