// CSV quoting (expected text written by hand from RFC 4180), number formatting, atomic writes.
#include "zo/util/files.hpp"
#include "zo/util/csv.hpp"

#include "zo/util/error.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

namespace {

namespace fs = std::filesystem;
using zo::test::slurp;

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("zo_csv_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Csv, QuotesFieldsWithCommasQuotesAndLineBreaks) {
  zo::CsvTable t({"name", "value"});
  t.add_row({"plain", "1"});
  t.add_row({"a,b", "say \"hi\""});
  t.add_row({"two\nlines", ""});
  EXPECT_EQ(t.str(), "name,value\nplain,1\n\"a,b\",\"say \"\"hi\"\"\"\n\"two\nlines\",\n");
  EXPECT_EQ(t.rows(), 3u);
}

TEST(Csv, RejectsRowsOfTheWrongWidthAndEmptyHeaders) {
  zo::CsvTable t({"a", "b"});
  try {
    t.add_row({"1"});
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 fields"), std::string::npos) << e.what();
  }
  EXPECT_THROW(zo::CsvTable({}), zo::Error);
}

TEST(Csv, NumbersRoundTripAndNonFiniteValuesAreSpelledOut) {
  for (double v : {0.1, 1e-300, 123456789.125, -2.5e17, 1.0 / 3.0}) {
    std::string s = zo::format_number(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
  EXPECT_EQ(zo::format_number(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(zo::format_number(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(zo::format_number(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(zo::format_number(3.0), "3");
}

TEST(AtomicFile, WritesAndReplacesWithoutLeavingTemporaries) {
  fs::path dir = scratch("replace");
  zo::write_file_atomic(dir / "f.txt", "first");
  zo::write_file_atomic(dir / "f.txt", "second, longer");
  EXPECT_EQ(slurp(dir / "f.txt"), "second, longer");
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  EXPECT_EQ(n, 1);
  zo::CsvTable t({"x"});
  t.add_row({"1"});
  t.save(dir / "t.csv");
  EXPECT_EQ(slurp(dir / "t.csv"), "x\n1\n");
  fs::remove_all(dir);
}

TEST(AtomicFile, FailureNamesThePathAndKeepsTheOldFile) {
  fs::path dir = scratch("failure");
  fs::path missing = dir / "nope" / "f.txt";
  try {
    zo::write_file_atomic(missing, "x");
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  // Renaming onto a folder fails: the folder stays and no temporary is left beside it.
  fs::create_directories(dir / "is_a_dir");
  EXPECT_THROW(zo::write_file_atomic(dir / "is_a_dir", "x"), zo::Error);
  EXPECT_TRUE(fs::is_directory(dir / "is_a_dir"));
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  EXPECT_EQ(n, 0);
  EXPECT_THROW(zo::write_file_atomic("", "x"), zo::Error);
  fs::remove_all(dir);
}

}  // namespace
