// Where a forward pass's time goes: wall time and calls per operation of the engine (ops.hpp), for
// benchmarks (bench/forward_efficiency.cpp). Recording is off unless started; while off, an
// operation pays one relaxed atomic load. Operations are timed where they are called, so an
// operation's time includes its OpenMP region or sgemm call, start to end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zo::nn {

struct OpTotal {
  std::string op;          // "matmul", "matvec", "attention", "attention_cached", "layernorm", "rmsnorm",
                           // "rope", "relu", "silu_mul", "add", "embedding", "add_embedding", "cross_entropy"
  std::int64_t width = 0;  // matmul, matvec: output channels (OC, the vocabulary for the head); else 0
  std::int64_t calls = 0;
  double seconds = 0;
};

// Zeroes the totals and starts recording.
void op_profile_start();

// Stops recording and returns the totals, one per (op, width), sorted by op then width.
std::vector<OpTotal> op_profile_stop();

namespace detail {

// Times its scope into the totals of (op, width) when recording; nothing otherwise.
class OpTimer {
 public:
  explicit OpTimer(const char* op, std::int64_t width = 0);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_;
  std::int64_t width_;
  std::int64_t start_ns_ = -1;  // -1: not recording
};

}  // namespace detail
}  // namespace zo::nn
