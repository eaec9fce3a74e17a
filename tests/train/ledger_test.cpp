#include "zo/train/ledger.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using zo::test::TempDir;
using zo::test::slurp;

void spit(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary | std::ios::trunc) << text; }

zo::LedgerRow row(std::int64_t step) {
  zo::LedgerRow r;
  r.step = step;
  r.probes = {{.draw = {.seed = 0xFFFFFFFFFFFFFFFFull - std::uint64_t(step), .scale = 1.0f / 3.0f}, .rho = 0.1 + 0.2},
              {.draw = {.seed = 12345, .scale = 1.0f}, .rho = -1e-300}};
  r.losses = {2.0 / 3.0, 5e-324, std::nextafter(1.0, 2.0), -0.0};
  r.lr = 1e-7 * double(step + 1);
  r.blocks = {0, 7};
  r.skipped = false;
  return r;
}

// A config as zo's runs write it: with the z-stream version they drew from (resume checks it).
const nlohmann::json kConfig = {
    {"optimizer", {{"kind", "zo-sgd"}, {"lr", 1e-6}}}, {"mode", "full"}, {"z_stream", zo::kZStreamVersion}};

void expect_same_bits(double a, double b) { EXPECT_EQ(std::bit_cast<std::uint64_t>(a), std::bit_cast<std::uint64_t>(b)); }

TEST(Ledger, RowsReadBackBitForBit) {
  TempDir dir;
  const auto path = dir.path / "ledger.tsv";
  {
    auto w = zo::LedgerWriter::create(path, kConfig);
    for (int s = 0; s < 5; ++s) w.append(row(s));
    zo::LedgerRow skipped{.step = 9, .probes = {}, .losses = {std::numeric_limits<double>::quiet_NaN(),
                                                              std::numeric_limits<double>::infinity()},
                          .lr = 0.5, .blocks = {}, .skipped = true};
    w.append(skipped);
    EXPECT_EQ(w.rows(), 6);
  }
  const auto ledger = zo::read_ledger(path);
  EXPECT_EQ(ledger.config, kConfig);
  EXPECT_TRUE(ledger.warning.empty());
  ASSERT_EQ(ledger.rows.size(), 6u);
  for (int s = 0; s < 5; ++s) {
    const auto& got = ledger.rows[std::size_t(s)];
    const auto want = row(s);
    EXPECT_EQ(got.step, s);
    ASSERT_EQ(got.probes.size(), 2u);
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(got.probes[k].draw.seed, want.probes[k].draw.seed);
      EXPECT_EQ(std::bit_cast<std::uint32_t>(got.probes[k].draw.scale), std::bit_cast<std::uint32_t>(want.probes[k].draw.scale));
      expect_same_bits(got.probes[k].rho, want.probes[k].rho);
    }
    ASSERT_EQ(got.losses.size(), want.losses.size());
    for (std::size_t i = 0; i < got.losses.size(); ++i) expect_same_bits(got.losses[i], want.losses[i]);
    expect_same_bits(got.lr, want.lr);
    EXPECT_EQ(got.blocks, want.blocks);
    EXPECT_FALSE(got.skipped);
  }
  EXPECT_TRUE(ledger.rows[5].skipped);
  EXPECT_TRUE(std::isnan(ledger.rows[5].losses[0]));
  EXPECT_TRUE(ledger.rows[5].blocks.empty());
  EXPECT_EQ(ledger.valid_bytes, fs::file_size(path));
}

TEST(Ledger, TheFileStartsWithMagicAndVersion) {
  TempDir dir;
  const auto path = dir.path / "l";
  zo::LedgerWriter::create(path, kConfig);
  EXPECT_TRUE(slurp(path).starts_with("zo-ledger 1\nconfig {"));
  EXPECT_THROW(zo::LedgerWriter::create(path, kConfig), zo::Error);  // never overwrites
}

TEST(Ledger, ATruncatedLastRowIsDroppedWithAWarning) {
  TempDir dir;
  const auto path = dir.path / "l";
  {
    auto w = zo::LedgerWriter::create(path, kConfig);
    for (int s = 0; s < 3; ++s) w.append(row(s));
  }
  const std::string full = slurp(path);
  spit(path, full.substr(0, full.size() - 10));  // cut inside the last row
  const auto ledger = zo::read_ledger(path);
  EXPECT_EQ(ledger.rows.size(), 2u);
  EXPECT_NE(ledger.warning.find(":5: dropped a truncated last row"), std::string::npos) << ledger.warning;
}

TEST(Ledger, CorruptionInsideIsAnErrorNamingFileAndLine) {
  TempDir dir;
  const auto path = dir.path / "l";
  {
    auto w = zo::LedgerWriter::create(path, kConfig);
    for (int s = 0; s < 3; ++s) w.append(row(s));
  }
  std::string text = slurp(path);
  const std::size_t line4 = text.find('\n', text.find('\n', text.find('\n') + 1) + 1) + 1;  // start of line 4
  text[line4] = text[line4] == '1' ? '2' : '1';  // change the step digit of row 2
  spit(path, text);
  try {
    zo::read_ledger(path);
    FAIL() << "no error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ":4: CRC mismatch"), std::string::npos) << e.what();
  }
  spit(path, "zo-ledger 2\nconfig {}\n");
  EXPECT_THROW(zo::read_ledger(path), zo::Error);
  spit(path, "zo-ledger 1\nconfig [1]\n");
  EXPECT_THROW(zo::read_ledger(path), zo::Error);
  spit(path, "zo-ledger 1\nconf");
  EXPECT_THROW(zo::read_ledger(path), zo::Error);
  EXPECT_THROW(zo::read_ledger(dir.path / "absent"), zo::Error);
}

TEST(Ledger, StepsOutOfOrderAreErrors) {
  TempDir dir;
  const auto path = dir.path / "l";
  spit(path, fmt::format("zo-ledger 1\nconfig {{}}\n{}\n{}\n", zo::format_ledger_row(row(3)), zo::format_ledger_row(row(3))));
  try {
    zo::read_ledger(path);
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(":4: step 3 does not follow step 3"), std::string::npos) << e.what();
  }
  auto w = zo::LedgerWriter::create(dir.path / "m", kConfig);
  w.append(row(4));
  EXPECT_THROW(w.append(row(4)), zo::Error);
}

TEST(Ledger, ResumeCutsRowsAfterTheCheckpointAndATruncatedTail) {
  TempDir dir;
  const auto path = dir.path / "l";
  {
    auto w = zo::LedgerWriter::create(path, kConfig);
    for (int s = 0; s < 6; ++s) w.append(row(s));
  }
  const std::string full = slurp(path);
  spit(path, full.substr(0, full.size() - 7));
  {
    auto w = zo::LedgerWriter::resume(path, kConfig, 3);
    EXPECT_EQ(w.rows(), 3);
    w.append(row(3));
  }
  const auto ledger = zo::read_ledger(path);
  ASSERT_EQ(ledger.rows.size(), 4u);
  EXPECT_EQ(ledger.rows.back().step, 3);
  EXPECT_TRUE(ledger.warning.empty());
  // The file is now exactly what an uninterrupted run writes for steps 0..3.
  const auto clean = dir.path / "clean";
  {
    auto w = zo::LedgerWriter::create(clean, kConfig);
    for (int s = 0; s < 4; ++s) w.append(row(s));
  }
  EXPECT_EQ(slurp(path), slurp(clean));
}

TEST(Ledger, ResumeRejectsAnotherConfigAndMissingRows) {
  TempDir dir;
  const auto path = dir.path / "l";
  {
    auto w = zo::LedgerWriter::create(path, kConfig);
    for (int s = 0; s < 2; ++s) w.append(row(s));
  }
  nlohmann::json other = kConfig;
  other["mode"] = "lora";
  EXPECT_THROW(zo::LedgerWriter::resume(path, other, 2), zo::Error);
  try {
    zo::LedgerWriter::resume(path, kConfig, 5);
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows are missing"), std::string::npos);
  }
  EXPECT_NO_THROW(zo::LedgerWriter::resume(path, kConfig, 0));
}

}  // namespace
