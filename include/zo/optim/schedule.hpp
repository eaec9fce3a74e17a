// Learning-rate schedules: a multiplier of the base η at each step, separate from the optimizers.
//   constant  1
//   linear    from 1 down to lr_min_ratio at the last step
//   cosine    lr_min_ratio + (1 − lr_min_ratio)·(1 + cos(π·progress))/2
// Each with an optional linear warm-up from 0 over the first warmup_steps steps.
#pragma once

#include <cstdint>
#include <string_view>

namespace zo {

enum class ScheduleKind { constant, linear, cosine };
std::string_view to_string(ScheduleKind);
ScheduleKind schedule_kind_from_string(std::string_view);  // throws zo::Error

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::constant;
  std::int64_t warmup_steps = 0;  // >= 0
  double lr_min_ratio = 0.0;      // in [0, 1]
  void validate() const;
};

// Multiplier of the base learning rate at `step` (0-based) of a run of `total_steps` steps.
double lr_factor(const ScheduleOptions& options, std::int64_t step, std::int64_t total_steps);

}  // namespace zo
