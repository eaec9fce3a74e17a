// Progress of long work on a terminal: "label  steps 1200/5000 (24%)  loss 3.1e+02  12.0 s  ETA 38 s".
// On a TTY the line is redrawn in place (carriage return) at most every `tty_interval_s`; on a pipe or
// a file a full line is written at most every `log_interval_s`, so logs stay short. finish() always
// writes the last state on its own line.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace zo {

struct ProgressOptions {
  std::string label;             // printed first, e.g. "bench synthetic"
  std::int64_t total = 0;        // units of work (steps); 0 = unknown (no percentage, no ETA)
  std::int64_t start = 0;        // units already done when the clock starts (a resumed run's step)
  std::string unit = "steps";    // name of a unit of work
  std::FILE* stream = stderr;    // where to write
  std::optional<bool> tty;       // redraw in place? default: whether `stream` is a terminal
  double tty_interval_s = 0.1;   // minimum seconds between redraws on a terminal, >= 0
  double log_interval_s = 10.0;  // minimum seconds between lines otherwise, >= 0
  void validate() const;         // throws zo::Error naming the field
};

// "850 ms", "12.0 s", "3 min 05 s", "2 h 07 min".
std::string format_duration(double seconds);

class Progress {
 public:
  explicit Progress(ProgressOptions options);  // validates; the clock starts here
  // Reports `done` units finished and a short status (e.g. "loss 1.2e+02"); writes only when the
  // interval since the last write has passed (always for the first call). The ETA assumes the
  // remaining units go at the rate of those done since the start: (done − start) units in
  // `work_seconds`, the time spent on them (without evaluations, checkpoints …), or in the elapsed
  // time when it is not given.
  void update(std::int64_t done, std::string_view status = {}, std::optional<double> work_seconds = {});
  // Writes the final state and ends the line.
  void finish(std::string_view status = {});
  // The line update() would write now, without the carriage return.
  std::string line(std::int64_t done, std::string_view status, std::optional<double> work_seconds = {}) const;
  double elapsed_s() const;

 private:
  void write(const std::string& text, bool final);
  ProgressOptions options_;
  bool tty_ = false;
  std::chrono::steady_clock::time_point start_;
  std::optional<std::chrono::steady_clock::time_point> last_write_;
  std::size_t last_width_ = 0;
  std::int64_t last_done_ = 0;
  std::string last_status_;
  std::optional<double> last_work_seconds_;
};

}  // namespace zo
