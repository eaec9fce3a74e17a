// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3" (SC 2011), as used by cuRAND and PyTorch. A pure function of (counter, key): any thread,
// chunking, device or MPI rank computes the same bits for the same inputs, with no state to carry.
// Checked against the Random123 known-answer vectors (tests/core/philox_test.cpp).
#pragma once

#include <array>
#include <cstdint>

namespace zo {

using PhiloxCounter = std::array<std::uint32_t, 4>;
using PhiloxKey = std::array<std::uint32_t, 2>;

namespace detail {
inline constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;
inline constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
inline constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace detail

// Ten rounds of Philox4x32 on `ctr` under `key`. Inline and branch-free so loops over counters vectorise.
constexpr PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(detail::kPhiloxM0) * ctr[0];
    const std::uint64_t p1 = std::uint64_t(detail::kPhiloxM1) * ctr[2];
    ctr = {std::uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], std::uint32_t(p1), std::uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           std::uint32_t(p0)};
    key = {key[0] + detail::kPhiloxW0, key[1] + detail::kPhiloxW1};
  }
  return ctr;
}

}  // namespace zo
