// Canvas, font, PNG and line plots. PNGs are read back with an independent decoder written here from
// the PNG specification, using zlib's crc32 and uncompress (not the writer's code).
#include "zo/util/plot.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct Png {
  int width = 0, height = 0;
  std::vector<std::string> chunk_types;
  std::vector<std::uint8_t> rgb;  // width*height*3
  zo::Rgb at(int x, int y) const {
    std::size_t i = (static_cast<std::size_t>(y) * width + x) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
}

// Decodes an 8-bit RGB, non-interlaced PNG whose scanlines all use filter 0; fails the test otherwise.
Png read_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Png png;
  EXPECT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  std::size_t at = 8;
  while (at + 12 <= bytes.size()) {
    std::uint32_t len = be32(bytes, at);
    std::string type = bytes.substr(at + 4, 4);
    EXPECT_LE(at + 12 + len, bytes.size());
    std::string data = bytes.substr(at + 8, len);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at + 4), 4 + len);
    EXPECT_EQ(static_cast<std::uint32_t>(crc), be32(bytes, at + 8 + len)) << "bad CRC in chunk " << type;
    png.chunk_types.push_back(type);
    if (type == "IHDR") {
      EXPECT_EQ(len, 13u);
      png.width = static_cast<int>(be32(data, 0));
      png.height = static_cast<int>(be32(data, 4));
      EXPECT_EQ(data[8], 8);   // bit depth
      EXPECT_EQ(data[9], 2);   // colour type RGB
      EXPECT_EQ(data[12], 0);  // no interlace
    } else if (type == "IDAT") {
      idat += data;
    }
    at += 12 + len;
  }
  EXPECT_EQ(at, bytes.size()) << "trailing bytes after the last chunk";
  const std::size_t row = static_cast<std::size_t>(png.width) * 3 + 1;
  std::vector<std::uint8_t> raw(row * png.height);
  uLongf raw_size = raw.size();
  EXPECT_EQ(uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()), Z_OK);
  EXPECT_EQ(raw_size, raw.size());
  for (int y = 0; y < png.height; ++y) {
    EXPECT_EQ(raw[y * row], 0) << "row " << y << " uses a filter this reader does not undo";
    png.rgb.insert(png.rgb.end(), raw.begin() + y * row + 1, raw.begin() + (y + 1) * row);
  }
  return png;
}

// Plot options field by field (GCC 12 warns on designated initializers that skip fields).
zo::PlotOptions opts(int width, int height, bool log_y = false, bool log_x = false, std::string title = "") {
  zo::PlotOptions o;
  o.width = width;
  o.height = height;
  o.log_y = log_y;
  o.log_x = log_x;
  o.title = std::move(title);
  return o;
}

bool same(zo::Rgb a, zo::Rgb b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("zo_plot_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST(Canvas, RejectsNonPositiveOrHugeSizes) {
  EXPECT_THROW(zo::Canvas(0, 10), zo::Error);
  EXPECT_THROW(zo::Canvas(10, -1), zo::Error);
  EXPECT_THROW(zo::Canvas(100000, 10), zo::Error);
  try {
    zo::Canvas(0, 5);
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("0x5"), std::string::npos) << e.what();
  }
}

TEST(Canvas, StartsWithBackgroundAndSetsPixels) {
  zo::Canvas c(4, 3, {10, 20, 30});
  EXPECT_TRUE(same(c.get(3, 2), {10, 20, 30}));
  c.set(1, 2, {1, 2, 3});
  c.set(-1, 0, {9, 9, 9});  // ignored
  c.set(4, 0, {9, 9, 9});   // ignored
  EXPECT_TRUE(same(c.get(1, 2), {1, 2, 3}));
  EXPECT_THROW(c.get(4, 0), zo::Error);
}

TEST(Canvas, FillRectClipsToTheCanvas) {
  zo::Canvas c(5, 5);
  c.fill_rect(3, 3, 10, 10, {0, 0, 0});
  EXPECT_TRUE(same(c.get(4, 4), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(3, 3), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(2, 3), {255, 255, 255}));
}

TEST(Canvas, ThickHorizontalLineCoversThatManyRows) {
  zo::Canvas c(20, 20);
  c.line(2, 10, 17, 10, {255, 0, 0}, 3);
  for (int y = 8; y <= 12; ++y) {
    bool inside = y >= 9 && y <= 11;
    EXPECT_EQ(same(c.get(10, y), {255, 0, 0}), inside) << "row " << y;
  }
  EXPECT_TRUE(same(c.get(2, 10), {255, 0, 0}));
  EXPECT_TRUE(same(c.get(17, 10), {255, 0, 0}));
}

TEST(Canvas, DiagonalLineHitsBothEndsAndTheMiddle) {
  zo::Canvas c(11, 11);
  c.line(0, 0, 10, 10, {0, 0, 255});
  EXPECT_TRUE(same(c.get(0, 0), {0, 0, 255}));
  EXPECT_TRUE(same(c.get(5, 5), {0, 0, 255}));
  EXPECT_TRUE(same(c.get(10, 10), {0, 0, 255}));
  EXPECT_TRUE(same(c.get(10, 0), {255, 255, 255}));
}

TEST(Canvas, TextDrawsTheGlyphBitmap) {
  // 'I' is .###. / ..#.. ×5 / .###. ; '-' is a full middle row.
  zo::Canvas c(20, 10);
  c.text(0, 0, "I-", {0, 0, 0});
  EXPECT_TRUE(same(c.get(0, 0), {255, 255, 255}));
  for (int x = 1; x <= 3; ++x) EXPECT_TRUE(same(c.get(x, 0), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(2, 3), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(1, 3), {255, 255, 255}));
  for (int x = 6; x <= 10; ++x) EXPECT_TRUE(same(c.get(x, 3), {0, 0, 0})) << x;
  EXPECT_TRUE(same(c.get(6, 2), {255, 255, 255}));
  EXPECT_EQ(zo::Canvas::text_width("I-"), 11);
  EXPECT_EQ(zo::Canvas::text_width("I-", 2), 22);
  EXPECT_EQ(zo::Canvas::text_width(""), 0);
}

TEST(Canvas, ScaledTextDrawsBlocks) {
  zo::Canvas c(20, 20);
  c.text(0, 0, "-", {0, 0, 0}, 2);  // the middle row (row 3) becomes rows 6–7
  EXPECT_TRUE(same(c.get(0, 6), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(9, 7), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(0, 5), {255, 255, 255}));
  EXPECT_TRUE(same(c.get(0, 8), {255, 255, 255}));
}

TEST(Canvas, GrayImageMapsZeroToOneOntoBlackToWhite) {
  zo::Canvas c(6, 2);
  std::vector<float> v = {0.0f, 0.5f, 1.0f, 2.0f, -1.0f, std::numeric_limits<float>::quiet_NaN()};
  c.gray_image(0, 0, v, 6, 1);
  EXPECT_TRUE(same(c.get(0, 0), {0, 0, 0}));
  EXPECT_TRUE(same(c.get(1, 0), {128, 128, 128}));
  EXPECT_TRUE(same(c.get(2, 0), {255, 255, 255}));
  EXPECT_TRUE(same(c.get(3, 0), {255, 255, 255}));  // clamped
  EXPECT_TRUE(same(c.get(4, 0), {0, 0, 0}));        // clamped
  EXPECT_TRUE(same(c.get(5, 0), {0, 0, 0}));        // NaN drawn black
  EXPECT_THROW(c.gray_image(0, 0, v, 4, 2), zo::Error);
}

TEST_F(PlotTest, PngRoundTripsThroughAnIndependentDecoder) {
  zo::Canvas c(7, 5, {1, 2, 3});
  c.set(0, 0, {255, 0, 0});
  c.set(6, 4, {0, 255, 0});
  c.set(3, 2, {12, 34, 56});
  fs::path path = dir_ / "tiny.png";
  c.save_png(path);
  Png png = read_png(path);
  EXPECT_EQ(png.width, 7);
  EXPECT_EQ(png.height, 5);
  ASSERT_EQ(png.chunk_types.size(), 3u);
  EXPECT_EQ(png.chunk_types.front(), "IHDR");
  EXPECT_EQ(png.chunk_types[1], "IDAT");
  EXPECT_EQ(png.chunk_types.back(), "IEND");
  EXPECT_TRUE(same(png.at(0, 0), {255, 0, 0}));
  EXPECT_TRUE(same(png.at(6, 4), {0, 255, 0}));
  EXPECT_TRUE(same(png.at(3, 2), {12, 34, 56}));
  EXPECT_TRUE(same(png.at(1, 1), {1, 2, 3}));
  // The write is atomic: only the final file is left in the folder.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(PlotTest, SavePngOverwritesAnExistingFile) {
  fs::path path = dir_ / "a.png";
  zo::Canvas(3, 3, {0, 0, 0}).save_png(path);
  zo::Canvas(4, 2, {9, 9, 9}).save_png(path);
  Png png = read_png(path);
  EXPECT_EQ(png.width, 4);
  EXPECT_EQ(png.height, 2);
  EXPECT_TRUE(same(png.at(3, 1), {9, 9, 9}));
}

TEST_F(PlotTest, SavePngToAMissingFolderNamesThePath) {
  fs::path path = dir_ / "no_such_folder" / "x.png";
  try {
    zo::Canvas(3, 3).save_png(path);
    FAIL() << "expected zo::Error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(zo::Canvas(3, 3).save_png(""), zo::Error);
}

TEST(Palette, CyclesThroughDistinctColours) {
  for (std::size_t i = 0; i < 10; ++i)
    for (std::size_t j = i + 1; j < 10; ++j) EXPECT_FALSE(same(zo::palette(i), zo::palette(j))) << i << " " << j;
  EXPECT_TRUE(same(zo::palette(0), zo::palette(10)));
}

int count_colour(const zo::Canvas& c, zo::Rgb colour) {
  int n = 0;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x) n += same(c.get(x, y), colour);
  return n;
}

bool equal_canvases(const zo::Canvas& a, const zo::Canvas& b) {
  if (a.width() != b.width() || a.height() != b.height()) return false;
  for (int y = 0; y < a.height(); ++y)
    for (int x = 0; x < a.width(); ++x)
      if (!same(a.get(x, y), b.get(x, y))) return false;
  return true;
}

TEST(LinePlot, DrawsEachSeriesInItsPaletteColour) {
  std::vector<zo::Series> s = {{"a", {0, 1, 2, 3}, {0, 1, 4, 9}}, {"b", {0, 1, 2, 3}, {9, 4, 1, 0}}};
  zo::Canvas c = zo::line_plot(s, [] { auto o = opts(400, 300, false, false, "t"); o.x_label = "x"; o.y_label = "y"; return o; }());
  EXPECT_EQ(c.width(), 400);
  EXPECT_EQ(c.height(), 300);
  EXPECT_GT(count_colour(c, zo::palette(0)), 50);
  EXPECT_GT(count_colour(c, zo::palette(1)), 50);
  EXPECT_EQ(count_colour(c, zo::palette(2)), 0);
}

TEST(LinePlot, LogAxisDropsNonPositiveAndNonFinitePoints) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<zo::Series> clean = {{"loss", {1, 2, 3, 4}, {100, 10, 1, 0.1}}};
  std::vector<zo::Series> dirty = {{"loss", {1, 2, 2.5, 3, 3.5, 4, 5}, {100, 10, 0.0, 1, -5, 0.1, nan}}};
  zo::PlotOptions o = opts(400, 300, true, false, "log");
  EXPECT_TRUE(equal_canvases(zo::line_plot(clean, o), zo::line_plot(dirty, o)));
  // The same dirty data on a linear axis keeps the zero and negative points, so the picture differs.
  o.log_y = false;
  EXPECT_FALSE(equal_canvases(zo::line_plot(clean, o), zo::line_plot(dirty, o)));
}

TEST(LinePlot, LogXAxisDropsNonPositiveX) {
  std::vector<zo::Series> clean = {{"s", {1, 10, 100}, {3, 2, 1}}};
  std::vector<zo::Series> dirty = {{"s", {0, 1, 10, -3, 100}, {5, 3, 2, 7, 1}}};
  zo::PlotOptions o = opts(300, 200, false, true);
  EXPECT_TRUE(equal_canvases(zo::line_plot(clean, o), zo::line_plot(dirty, o)));
}

TEST(LinePlot, SeriesWithNothingToShowStillMakesAPicture) {
  std::vector<zo::Series> s = {{"neg", {1, 2}, {-1, -2}}};
  zo::Canvas c = zo::line_plot(s, opts(300, 200, true));
  EXPECT_EQ(count_colour(c, zo::palette(0)), count_colour(zo::line_plot(std::vector<zo::Series>{{"neg", {}, {}}},
                                                                        opts(300, 200, true)),
                                                          zo::palette(0)));
  std::vector<zo::Series> none;
  EXPECT_NO_THROW(zo::line_plot(none, opts(300, 200)));
}

TEST(LinePlot, RejectsMismatchedSeriesAndBadSizes) {
  std::vector<zo::Series> bad = {{"oops", {1, 2, 3}, {1, 2}}};
  try {
    zo::line_plot(bad, {});
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("oops"), std::string::npos) << e.what();
  }
  std::vector<zo::Series> ok = {{"a", {1, 2}, {1, 2}}};
  EXPECT_THROW(zo::line_plot(ok, opts(10, 300)), zo::Error);
  EXPECT_THROW(zo::line_plot(ok, opts(400, 0)), zo::Error);
}

TEST_F(PlotTest, WriteLinePlotWritesAPngOfTheRequestedSize) {
  std::vector<zo::Series> s;
  for (int k = 0; k < 3; ++k) {
    zo::Series series{"run " + std::to_string(k), {}, {}};
    for (int i = 0; i <= 100; ++i) {
      series.x.push_back(i * 40.0);
      series.y.push_back(1e4 * std::exp(-0.05 * i * (k + 1)) + 1e-3);
    }
    s.push_back(series);
  }
  fs::path path = dir_ / "plot.png";
  zo::write_line_plot(path, s, [] { auto o = opts(960, 640, true, false, "Loss"); o.x_label = "queries"; o.y_label = "loss"; return o; }());
  Png png = read_png(path);
  EXPECT_EQ(png.width, 960);
  EXPECT_EQ(png.height, 640);
  int coloured = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) coloured += same(png.at(x, y), zo::palette(2));
  EXPECT_GT(coloured, 100);
  EXPECT_THROW(zo::write_line_plot(dir_ / "missing" / "p.png", s, {}), zo::Error);
}

}  // namespace
