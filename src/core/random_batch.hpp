// Internal: Philox and its transforms over a fixed batch of counters, the one code path every
// random draw in zo goes through. Each batch function is compiled once (noinline), processes
// kBatchCounters counters lane by lane with no data-dependent branches, so the compiler vectorises
// it and every caller (fill_*, *_at, the fused kernels) gets bit-identical values.
#pragma once

#include "zo/core/random.hpp"

#include <cstdint>

namespace zo::detail {

inline constexpr int kBatchCounters = 32;
inline constexpr int kBatchElements = 4 * kBatchCounters;

// out[4·l + j] = word j of Philox(counter counters[l]), l < kBatchCounters (any counters).
void bits_batch_at(const RandomStream& s, const std::uint64_t* counters, std::uint32_t* out);
// out[4·l + j] = the normal of element 4·counters[l] + j.
void normal_batch_at(const RandomStream& s, const std::uint64_t* counters, float* out);

// The same for the consecutive counters first, first + 1, …
// out[4·l + j] = word j of Philox(counter first + l), l < kBatchCounters.
void bits_batch(const RandomStream& s, std::uint64_t first_counter, std::uint32_t* out);
// out[4·l + j] = the normal of element 4·(first + l) + j (Box-Muller on word pairs (0,1), (2,3)).
void normal_batch(const RandomStream& s, std::uint64_t first_counter, float* out);

// Element draws from one Philox word (see random.hpp).
inline float uniform_from_bits(std::uint32_t w) { return float(w >> 8) * 0x1p-24f; }
inline float rademacher_from_bits(std::uint32_t w) {
  return __builtin_bit_cast(float, 0x3f800000u | (w & 0x80000000u));  // top bit set: -1
}

}  // namespace zo::detail
