#include "zo/optim/schedule.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace zo {

std::string_view to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::linear: return "linear";
    case ScheduleKind::cosine: return "cosine";
  }
  return "unknown";
}

ScheduleKind schedule_kind_from_string(std::string_view name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "linear") return ScheduleKind::linear;
  if (name == "cosine") return ScheduleKind::cosine;
  fail("unknown schedule '{}': expected one of constant, linear, cosine", name);
}

void ScheduleOptions::validate() const {
  if (warmup_steps < 0) fail("schedule option warmup_steps = {}: must be >= 0", warmup_steps);
  if (!(lr_min_ratio >= 0.0 && lr_min_ratio <= 1.0))
    fail("schedule option lr_min_ratio = {}: must be in [0, 1]", lr_min_ratio);
}

// Warm-up (as Hugging Face's schedules): factor step / warmup_steps for step < warmup_steps, so the
// first step of a warm-up runs at 0. Decay then spans steps warmup_steps … total_steps − 1, reaching
// lr_min_ratio exactly at the last step.
double lr_factor(const ScheduleOptions& options, std::int64_t step, std::int64_t total_steps) {
  options.validate();
  if (total_steps < 1) fail("lr_factor: total_steps = {}: must be >= 1", total_steps);
  if (step < 0) fail("lr_factor: step = {}: must be >= 0", step);
  if (step < options.warmup_steps) return double(step) / double(options.warmup_steps);
  const double span = double(std::max<std::int64_t>(1, total_steps - 1 - options.warmup_steps));
  const double progress = std::clamp(double(step - options.warmup_steps) / span, 0.0, 1.0);
  const double r = options.lr_min_ratio;
  switch (options.kind) {
    case ScheduleKind::constant: return 1.0;
    case ScheduleKind::linear: return 1.0 - (1.0 - r) * progress;
    case ScheduleKind::cosine: return r + (1.0 - r) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
  return 1.0;
}

}  // namespace zo
