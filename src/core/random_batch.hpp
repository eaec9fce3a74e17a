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

// The same draws for the first 8·groups counters only, groups in [1, 4] (out[4·l + j], l < 8·groups):
// the same values as the whole batch, for less work when few are needed.
void gap_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float c, std::uint32_t* out);
void normal_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float* out);

// c of fill_gaps for probability p in (0, 1]: float(1 / (−2 ln(1 − p))), 0 for p = 1.
float gap_scale(double p);
// out[4·l + j] = min(floor(−2 ln u · c), 2^24) for word j of Philox(counter first + l), u = (w + 0.5)·2^-32.
void gap_batch(const RandomStream& s, std::uint64_t first_counter, float c, std::uint32_t* out);

// out[32·k + j] = −1 when bit j of words[k] is set, else +1, k < count (the packed Rademacher signs).
void expand_signs(const std::uint32_t* words, std::int64_t count, float* out);

// Element draws from one Philox word (see random.hpp).
inline float uniform_from_bits(std::uint32_t w) { return float(w >> 8) * 0x1p-24f; }
// Sign j of a packed word: bit j set gives −1.
inline float rademacher_from_bit(std::uint32_t w, int j) {
  return __builtin_bit_cast(float, 0x3f800000u | (((w >> j) & 1u) << 31));
}

}  // namespace zo::detail
