#include "zo/nn/op_profile.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <utility>

namespace zo::nn {

namespace {

std::atomic<bool> recording{false};
std::mutex totals_mutex;
std::map<std::pair<std::string, std::int64_t>, OpTotal>& totals() {
  static std::map<std::pair<std::string, std::int64_t>, OpTotal> t;
  return t;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void op_profile_start() {
  const std::lock_guard lock(totals_mutex);
  totals().clear();
  recording.store(true, std::memory_order_relaxed);
}

std::vector<OpTotal> op_profile_stop() {
  recording.store(false, std::memory_order_relaxed);
  const std::lock_guard lock(totals_mutex);
  std::vector<OpTotal> out;
  for (const auto& [key, total] : totals()) out.push_back(total);
  return out;
}

namespace detail {

OpTimer::OpTimer(const char* op, std::int64_t width) : op_(op), width_(width) {
  if (recording.load(std::memory_order_relaxed)) start_ns_ = now_ns();
}

OpTimer::~OpTimer() {
  if (start_ns_ < 0) return;
  const double seconds = double(now_ns() - start_ns_) * 1e-9;
  const std::lock_guard lock(totals_mutex);
  OpTotal& t = totals()[{op_, width_}];
  t.op = op_;
  t.width = width_;
  t.calls += 1;
  t.seconds += seconds;
}

}  // namespace detail
}  // namespace zo::nn
