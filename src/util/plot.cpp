// Canvas drawing, the built-in 5×7 font, PNG encoding and line plots (plot.hpp).
#include "zo/util/plot.hpp"

#include "zo/util/error.hpp"
#include "zo/util/files.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace zo {

namespace {

// The font: ASCII 32–126, 7 rows per glyph top to bottom, 5 columns per row in the low bits
// (0x10 = leftmost column). Drawn for this project; each glyph leaves one blank column on the right
// and one blank row below when laid out on a 6×8 cell.
constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;
constexpr std::array<std::array<std::uint8_t, kGlyphH>, 95> kFont = {{
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // ' '
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},  // '!'
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00},  // '"'
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A},  // '#'
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04},  // '$'
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},  // '%'
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D},  // '&'
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},  // "'"
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02},  // '('
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},  // ')'
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},  // '*'
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},  // '+'
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08},  // ','
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00},  // '-'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C},  // '.'
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00},  // '/'
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},  // '0'
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},  // '1'
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},  // '2'
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},  // '3'
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},  // '4'
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},  // '5'
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},  // '6'
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},  // '7'
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},  // '8'
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},  // '9'
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00},  // ':'
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},  // ';'
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02},  // '<'
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00},  // '='
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},  // '>'
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04},  // '?'
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E},  // '@'
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},  // 'A'
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},  // 'B'
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E},  // 'C'
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},  // 'D'
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F},  // 'E'
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},  // 'F'
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F},  // 'G'
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},  // 'H'
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 'I'
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},  // 'J'
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11},  // 'K'
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},  // 'L'
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11},  // 'M'
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},  // 'N'
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // 'O'
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},  // 'P'
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D},  // 'Q'
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},  // 'R'
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E},  // 'S'
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // 'T'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E},  // 'U'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},  // 'V'
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A},  // 'W'
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},  // 'X'
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04},  // 'Y'
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},  // 'Z'
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},  // '['
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00},  // '\\'
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E},  // ']'
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00},  // '^'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},  // '_'
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00},  // '`'
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F},  // 'a'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E},  // 'b'
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E},  // 'c'
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F},  // 'd'
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E},  // 'e'
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08},  // 'f'
    {0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E},  // 'g'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},  // 'h'
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E},  // 'i'
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},  // 'j'
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12},  // 'k'
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},  // 'l'
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11},  // 'm'
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},  // 'n'
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E},  // 'o'
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10},  // 'p'
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01},  // 'q'
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},  // 'r'
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E},  // 's'
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},  // 't'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D},  // 'u'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},  // 'v'
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A},  // 'w'
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},  // 'x'
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E},  // 'y'
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},  // 'z'
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02},  // '{'
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},  // '|'
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08},  // '}'
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00},  // '~'
}};

const std::array<std::uint8_t, kGlyphH>& glyph(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if (c < 32 || c > 126) c = '?';
  return kFont[c - 32];
}

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  std::string typed(type, 4);
  typed += data;
  out += typed;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(typed.data()), static_cast<uInt>(typed.size()));
  put_u32(out, static_cast<std::uint32_t>(crc));
}

}  // namespace

Rgb palette(std::size_t i) {
  // Okabe–Ito's colour-blind-safe set, then a few darker extras.
  static constexpr std::array<Rgb, 10> colours = {{{0, 114, 178},
                                                   {213, 94, 0},
                                                   {0, 158, 115},
                                                   {204, 121, 167},
                                                   {230, 159, 0},
                                                   {86, 180, 233},
                                                   {0, 0, 0},
                                                   {140, 86, 75},
                                                   {127, 127, 127},
                                                   {188, 189, 34}}};
  return colours[i % colours.size()];
}

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  constexpr int kMax = 16384;
  if (width < 1 || height < 1 || width > kMax || height > kMax)
    fail("canvas size {}x{}: width and height must be in [1, {}]", width, height, kMax);
  rgb_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (std::size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  std::size_t i = (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)) * 3;
  rgb_[i] = c.r;
  rgb_[i + 1] = c.g;
  rgb_[i + 2] = c.b;
}

Rgb Canvas::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_)
    fail("canvas pixel ({}, {}) is outside the {}x{} canvas", x, y, width_, height_);
  std::size_t i = (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)) * 3;
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  int x0 = std::max(x, 0), y0 = std::max(y, 0);
  int x1 = std::min(x + std::max(w, 0), width_), y1 = std::min(y + std::max(h, 0), height_);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) set(xx, yy, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  thickness = std::max(thickness, 1);
  // Keep far-off endpoints from making the walk below enormous: clamp to a margin around the canvas.
  const double lim = 4.0 * std::max(width_, height_);
  auto clampv = [lim](double v) { return std::clamp(v, -lim, lim); };
  x0 = clampv(x0), y0 = clampv(y0), x1 = clampv(x1), y1 = clampv(y1);
  // Walk the segment in half-pixel steps and stamp a thickness×thickness square centred on each point.
  const double length = std::hypot(x1 - x0, y1 - y0);
  const int n = std::max(1, static_cast<int>(std::ceil(length * 2.0)));
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  int last_x = std::numeric_limits<int>::min(), last_y = std::numeric_limits<int>::min();
  for (int i = 0; i <= n; ++i) {
    double t = static_cast<double>(i) / n;
    int px = static_cast<int>(std::lround(x0 + (x1 - x0) * t));
    int py = static_cast<int>(std::lround(y0 + (y1 - y0) * t));
    if (px == last_x && py == last_y) continue;
    last_x = px, last_y = py;
    if (thickness == 1) {
      set(px, py, c);
    } else {
      fill_rect(px + lo, py + lo, hi - lo + 1, hi - lo + 1, c);
    }
  }
}

void Canvas::text(int x, int y, std::string_view s, Rgb c, int scale) {
  scale = std::max(scale, 1);
  int cx = x;
  for (char ch : s) {
    const auto& g = glyph(ch);
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < kGlyphW; ++col)
        if (g[row] & (0x10 >> col)) fill_rect(cx + col * scale, y + row * scale, scale, scale, c);
    cx += kAdvance * scale;
  }
}

int Canvas::text_width(std::string_view s, int scale) {
  if (s.empty()) return 0;
  scale = std::max(scale, 1);
  return (static_cast<int>(s.size()) * kAdvance - 1) * scale;
}

void Canvas::gray_image(int x, int y, std::span<const float> values, int w, int h, int scale) {
  if (w < 0 || h < 0 || static_cast<std::size_t>(w) * static_cast<std::size_t>(h) != values.size())
    fail("gray_image: {} values do not make a {}x{} image", values.size(), w, h);
  scale = std::max(scale, 1);
  for (int r = 0; r < h; ++r)
    for (int col = 0; col < w; ++col) {
      float v = values[static_cast<std::size_t>(r) * static_cast<std::size_t>(w) + static_cast<std::size_t>(col)];
      if (!std::isfinite(v)) v = 0.0f;
      auto g = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
      fill_rect(x + col * scale, y + r * scale, scale, scale, {g, g, g});
    }
}

void Canvas::save_png(const std::filesystem::path& path) const {
  // Raw scanlines, each prefixed by filter type 0 (None).
  const std::size_t row_bytes = static_cast<std::size_t>(width_) * 3;
  std::string raw;
  raw.reserve((row_bytes + 1) * static_cast<std::size_t>(height_));
  for (int y = 0; y < height_; ++y) {
    raw.push_back('\0');
    raw.append(reinterpret_cast<const char*>(rgb_.data()) + static_cast<std::size_t>(y) * row_bytes, row_bytes);
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                     reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 6);
  if (rc != Z_OK) fail("cannot write PNG '{}': zlib compress2 failed ({})", path.string(), rc);
  packed.resize(packed_size);

  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(width_));
  put_u32(ihdr, static_cast<std::uint32_t>(height_));
  ihdr += std::string{'\x08', '\x02', '\x00', '\x00', '\x00'};  // 8-bit, RGB, deflate, filter 0, no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", packed);
  put_chunk(png, "IEND", "");
  write_file_atomic(path, png);
}

// ---------------------------------------------------------------------------------------------------
// Line plots

namespace {

struct Axis {
  double lo = 0.0, hi = 1.0;  // in plot space (log10 of the value on a log axis)
  bool log = false;
};

// Formats a tick value compactly: integers plainly, others with few digits, tiny/huge as 1e-05 style.
std::string format_tick(double v, double step) {
  if (v == 0.0 || std::fabs(v) < step * 1e-9) return "0";
  double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) {
    return fmt::format("{:.2g}", v);
  }
  int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", v, std::min(decimals, 6));
}

std::string format_power(int k) {
  if (k == 0) return "1";
  if (k == 1) return "10";
  return fmt::format("1e{}", k);
}

struct Tick {
  double at;  // plot space
  std::string label;
};

// "Nice" linear ticks: a step of 1, 2 or 5 × 10^k giving about `target` ticks over [lo, hi].
std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  std::vector<Tick> ticks;
  double span = hi - lo;
  if (!(span > 0)) return ticks;
  double raw = span / std::max(target, 1);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  double first = std::ceil(lo / step - 1e-9) * step;
  for (double v = first; v <= hi + step * 1e-9; v += step) {
    ticks.push_back({v, format_tick(v, step)});
    if (ticks.size() > 50) break;
  }
  return ticks;
}

// Log axis ticks at powers of ten (every k-th decade when there are many); within less than a
// decade, nice linear ticks in value space placed on the log scale.
std::vector<Tick> log_ticks(double lo, double hi, int target) {
  std::vector<Tick> ticks;
  int k0 = static_cast<int>(std::ceil(lo - 1e-9)), k1 = static_cast<int>(std::floor(hi + 1e-9));
  if (k1 - k0 + 1 >= 2) {
    int every = std::max(1, (k1 - k0 + target) / target);
    for (int k = k0; k <= k1; ++k)
      if ((k - k0) % every == 0) ticks.push_back({static_cast<double>(k), format_power(k)});
    return ticks;
  }
  double vlo = std::pow(10.0, lo), vhi = std::pow(10.0, hi);
  for (const Tick& t : linear_ticks(vlo, vhi, target))
    if (t.at > 0) ticks.push_back({std::log10(t.at), t.label});
  return ticks;
}

std::vector<Tick> ticks_for(const Axis& axis, int target) {
  return axis.log ? log_ticks(axis.lo, axis.hi, target) : linear_ticks(axis.lo, axis.hi, target);
}

// Range of the kept points in plot space, padded; a default range when there are none.
Axis make_axis(const std::vector<double>& values, bool log, bool pad) {
  Axis axis;
  axis.log = log;
  if (values.empty()) {
    axis.lo = 0.0, axis.hi = 1.0;
    return axis;
  }
  auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  axis.lo = *mn, axis.hi = *mx;
  if (axis.hi - axis.lo <= 0) {
    double d = log ? 0.5 : std::max(std::fabs(axis.lo) * 0.1, 0.5);
    axis.lo -= d, axis.hi += d;
  } else if (pad) {
    double d = (axis.hi - axis.lo) * 0.04;
    axis.lo -= d, axis.hi += d;
  }
  return axis;
}

bool keep_point(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

// Text rotated 90° counter-clockwise (reading bottom to top), its left end at (x, y_bottom).
void vertical_text(Canvas& canvas, int x, int y_bottom, std::string_view s, Rgb c, int scale) {
  int cy = y_bottom;
  for (char ch : s) {
    const auto& g = glyph(ch);
    for (int row = 0; row < kGlyphH; ++row)
      for (int col = 0; col < kGlyphW; ++col)
        if (g[row] & (0x10 >> col)) canvas.fill_rect(x + row * scale, cy - (col + 1) * scale, scale, scale, c);
    cy -= kAdvance * scale;
  }
}

}  // namespace

Canvas line_plot(std::span<const Series> series, const PlotOptions& options) {
  if (options.width < 200 || options.height < 150 || options.width > 8192 || options.height > 8192)
    fail("plot size {}x{}: width must be in [200, 8192] and height in [150, 8192]", options.width, options.height);
  for (const Series& s : series)
    if (s.x.size() != s.y.size())
      fail("series '{}': x has {} points but y has {}", s.label, s.x.size(), s.y.size());

  // Keep the points each axis can show, in plot space.
  std::vector<std::vector<std::pair<double, double>>> kept(series.size());
  std::vector<double> xs, ys;
  for (std::size_t i = 0; i < series.size(); ++i) {
    for (std::size_t j = 0; j < series[i].x.size(); ++j) {
      double x = series[i].x[j], y = series[i].y[j];
      if (!keep_point(x, options.log_x) || !keep_point(y, options.log_y)) continue;
      double px = options.log_x ? std::log10(x) : x, py = options.log_y ? std::log10(y) : y;
      kept[i].emplace_back(px, py);
      xs.push_back(px);
      ys.push_back(py);
    }
  }
  Axis ax = make_axis(xs, options.log_x, false);
  Axis ay = make_axis(ys, options.log_y, true);

  const Rgb black{0, 0, 0}, grid{225, 225, 225}, frame{60, 60, 60};
  Canvas canvas(options.width, options.height);
  const int scale = options.width >= 640 ? 2 : 1;
  const int char_h = kGlyphH * scale;

  auto x_ticks = ticks_for(ax, std::max(3, options.width / 160));
  auto y_ticks = ticks_for(ay, std::max(3, options.height / 100));
  int y_label_w = 0;
  for (const Tick& t : y_ticks) y_label_w = std::max(y_label_w, Canvas::text_width(t.label, scale));

  const int left = 12 + (options.y_label.empty() ? 0 : char_h + 10) + y_label_w + 8;
  const int right = options.width - 20;
  const int top = 12 + (options.title.empty() ? 0 : char_h * 3 / 2 + 12);
  const int bottom = options.height - (12 + char_h + 8 + (options.x_label.empty() ? 0 : char_h + 10));
  if (right - left < 40 || bottom - top < 40) fail("plot size {}x{}: too small for its labels", options.width, options.height);

  auto sx = [&](double v) { return left + (v - ax.lo) / (ax.hi - ax.lo) * (right - left); };
  auto sy = [&](double v) { return bottom - (v - ay.lo) / (ay.hi - ay.lo) * (bottom - top); };

  // Grid, ticks and their labels.
  for (const Tick& t : x_ticks) {
    int px = static_cast<int>(std::lround(sx(t.at)));
    canvas.line(px, top, px, bottom, grid);
    canvas.line(px, bottom, px, bottom + 5, frame);
    int w = Canvas::text_width(t.label, scale);
    canvas.text(std::clamp(px - w / 2, 0, options.width - w), bottom + 8, t.label, black, scale);
  }
  for (const Tick& t : y_ticks) {
    int py = static_cast<int>(std::lround(sy(t.at)));
    canvas.line(left, py, right, py, grid);
    canvas.line(left - 5, py, left, py, frame);
    int w = Canvas::text_width(t.label, scale);
    canvas.text(left - 8 - w, py - char_h / 2, t.label, black, scale);
  }

  // Series: each segment clipped to the frame (Liang–Barsky), so points far outside draw nothing.
  auto clip = [&](double& x0, double& y0, double& x1, double& y1) {
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {x0 - left, right - x0, y0 - top, bottom - y0};
    for (int k = 0; k < 4; ++k) {
      if (p[k] == 0) {
        if (q[k] < 0) return false;
      } else {
        double r = q[k] / p[k];
        if (p[k] < 0) t0 = std::max(t0, r);
        else t1 = std::min(t1, r);
      }
    }
    if (t0 > t1) return false;
    double nx0 = x0 + t0 * dx, ny0 = y0 + t0 * dy, nx1 = x0 + t1 * dx, ny1 = y0 + t1 * dy;
    x0 = nx0, y0 = ny0, x1 = nx1, y1 = ny1;
    return true;
  };
  const int thickness = options.width >= 640 ? 2 : 1;
  for (std::size_t i = 0; i < series.size(); ++i) {
    Rgb c = palette(i);
    const auto& pts = kept[i];
    if (pts.size() == 1) {
      double px = sx(pts[0].first), py = sy(pts[0].second);
      canvas.fill_rect(static_cast<int>(px) - 2, static_cast<int>(py) - 2, 5, 5, c);
    }
    for (std::size_t j = 1; j < pts.size(); ++j) {
      double x0 = sx(pts[j - 1].first), y0 = sy(pts[j - 1].second), x1 = sx(pts[j].first), y1 = sy(pts[j].second);
      if (clip(x0, y0, x1, y1)) canvas.line(x0, y0, x1, y1, c, thickness);
    }
  }

  // Frame.
  canvas.line(left, top, right, top, frame);
  canvas.line(left, bottom, right, bottom, frame);
  canvas.line(left, top, left, bottom, frame);
  canvas.line(right, top, right, bottom, frame);

  // Title, axis labels.
  if (!options.title.empty()) {
    int ts = scale + 1;
    int w = Canvas::text_width(options.title, ts);
    canvas.text(std::max(0, (options.width - w) / 2), 10, options.title, black, ts);
  }
  if (!options.x_label.empty()) {
    int w = Canvas::text_width(options.x_label, scale);
    canvas.text((left + right - w) / 2, options.height - 10 - char_h, options.x_label, black, scale);
  }
  if (!options.y_label.empty()) {
    int w = Canvas::text_width(options.y_label, scale);
    vertical_text(canvas, 12, (top + bottom + w) / 2, options.y_label, black, scale);
  }
  if (xs.empty()) {
    const char* note = "no data to show";
    int w = Canvas::text_width(note, scale);
    canvas.text((left + right - w) / 2, (top + bottom) / 2, note, frame, scale);
  }

  // Legend, top right inside the frame.
  std::vector<std::size_t> labelled;
  for (std::size_t i = 0; i < series.size(); ++i)
    if (!series[i].label.empty()) labelled.push_back(i);
  if (!labelled.empty()) {
    int text_w = 0;
    for (std::size_t i : labelled) text_w = std::max(text_w, Canvas::text_width(series[i].label, scale));
    const int swatch = 20, pad = 8, row_h = char_h + 6;
    int box_w = pad + swatch + 6 + text_w + pad;
    int box_h = pad + static_cast<int>(labelled.size()) * row_h - 6 + pad;
    int bx = right - box_w - 8, by = top + 8;
    canvas.fill_rect(bx, by, box_w, box_h, {255, 255, 255});
    canvas.line(bx, by, bx + box_w, by, frame);
    canvas.line(bx, by + box_h, bx + box_w, by + box_h, frame);
    canvas.line(bx, by, bx, by + box_h, frame);
    canvas.line(bx + box_w, by, bx + box_w, by + box_h, frame);
    for (std::size_t r = 0; r < labelled.size(); ++r) {
      std::size_t i = labelled[r];
      int ry = by + pad + static_cast<int>(r) * row_h;
      canvas.line(bx + pad, ry + char_h / 2, bx + pad + swatch, ry + char_h / 2, palette(i), 3);
      canvas.text(bx + pad + swatch + 6, ry, series[i].label, black, scale);
    }
  }
  return canvas;
}

void write_line_plot(const std::filesystem::path& path, std::span<const Series> series, const PlotOptions& options) {
  line_plot(series, options).save_png(path);
}

}  // namespace zo
