// Progress lines on a terminal or a log (progress.hpp).
#include "zo/util/progress.hpp"

#include "zo/util/error.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace zo {

void ProgressOptions::validate() const {
  if (total < 0) fail("progress field 'total' = {}: must be >= 0", total);
  if (start < 0 || (total > 0 && start > total))
    fail("progress field 'start' = {}: must be in [0, total = {}]", start, total);
  if (stream == nullptr) fail("progress field 'stream' is null: must be an open FILE*");
  if (!(tty_interval_s >= 0) || !std::isfinite(tty_interval_s))
    fail("progress field 'tty_interval_s' = {}: must be finite and >= 0", tty_interval_s);
  if (!(log_interval_s >= 0) || !std::isfinite(log_interval_s))
    fail("progress field 'log_interval_s' = {}: must be finite and >= 0", log_interval_s);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 1.0) return fmt::format("{:.0f} ms", seconds * 1e3);
  if (seconds < 60.0) return fmt::format("{:.1f} s", seconds);
  auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s % 3600) / 60);
}

Progress::Progress(ProgressOptions options) : options_(std::move(options)) {
  options_.validate();
  tty_ = options_.tty.value_or(::isatty(::fileno(options_.stream)) == 1);
  start_ = std::chrono::steady_clock::now();
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(std::int64_t done, std::string_view status, std::optional<double> work_seconds) const {
  std::string text = options_.label.empty() ? std::string() : options_.label + "  ";
  double elapsed = elapsed_s();
  if (options_.total > 0) {
    double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(options_.total), 0.0, 1.0);
    text += fmt::format("{} {}/{} ({:.0f}%)", options_.unit, done, options_.total, 100.0 * fraction);
  } else {
    text += fmt::format("{} {}", options_.unit, done);
  }
  if (!status.empty()) text += fmt::format("  {}", status);
  text += fmt::format("  {}", format_duration(elapsed));
  const std::int64_t done_here = done - options_.start;
  if (options_.total > 0 && done_here > 0 && done < options_.total) {
    const double seconds = work_seconds.value_or(elapsed);
    text += "  ETA " + format_duration(seconds / static_cast<double>(done_here) * static_cast<double>(options_.total - done));
  }
  return text;
}

void Progress::write(const std::string& text, bool final) {
  if (tty_) {
    // Pad over the previous, possibly longer, line instead of relying on terminal escape codes.
    std::string padded = text;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    std::fprintf(options_.stream, "\r%s%s", padded.c_str(), final ? "\n" : "");
    last_width_ = final ? 0 : text.size();
  } else {
    std::fprintf(options_.stream, "%s\n", text.c_str());
  }
  std::fflush(options_.stream);
  last_write_ = std::chrono::steady_clock::now();
}

void Progress::update(std::int64_t done, std::string_view status, std::optional<double> work_seconds) {
  last_done_ = done;
  last_status_ = std::string(status);
  last_work_seconds_ = work_seconds;
  auto now = std::chrono::steady_clock::now();
  double interval = tty_ ? options_.tty_interval_s : options_.log_interval_s;
  if (last_write_ && std::chrono::duration<double>(now - *last_write_).count() < interval) return;
  write(line(done, status, work_seconds), false);
}

void Progress::finish(std::string_view status) {
  write(line(options_.total > 0 ? std::max(last_done_, options_.total) : last_done_,
             status.empty() ? std::string_view(last_status_) : status),
        true);
}

}  // namespace zo
