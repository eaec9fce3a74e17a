// Pictures without a plotting stack: an RGB canvas with lines, rectangles, a built-in bitmap font,
// PNG output, and line plots (linear or log axes, legend) built on it. Used by `zo bench`, `zo attack`
// and `zo finetune` to write their PNGs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// A fixed palette of distinguishable colours, cycled by index.
Rgb palette(std::size_t i);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});  // throws zo::Error on a bad size
  int width() const { return width_; }
  int height() const { return height_; }

  void set(int x, int y, Rgb c);  // ignores points outside
  Rgb get(int x, int y) const;
  void fill_rect(int x, int y, int w, int h, Rgb c);
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
  // Text in the built-in 5×7 font (ASCII 32–126), each font pixel drawn as scale×scale.
  void text(int x, int y, std::string_view s, Rgb c, int scale = 1);
  static int text_width(std::string_view s, int scale = 1);
  // A grayscale image (values in [0, 1], row-major w×h), each pixel drawn as scale×scale.
  void gray_image(int x, int y, std::span<const float> values, int w, int h, int scale = 1);

  // Writes a PNG (8-bit RGB) atomically; throws zo::Error naming the path on failure.
  void save_png(const std::filesystem::path& path) const;

 private:
  int width_, height_;
  std::vector<std::uint8_t> rgb_;
};

struct Series {
  std::string label;
  std::vector<double> x, y;  // same length; non-finite or (on a log axis) non-positive points are dropped
};

struct PlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;
  int width = 960;
  int height = 640;
};

// One line per series with axes, ticks, labels and a legend.
Canvas line_plot(std::span<const Series> series, const PlotOptions& options);
void write_line_plot(const std::filesystem::path& path, std::span<const Series> series, const PlotOptions& options);

}  // namespace zo
