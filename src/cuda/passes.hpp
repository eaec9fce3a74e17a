// Internal: the work of one CUDA thread of each pass, as host-and-device functions of (job, thread
// index). The kernels (launch.cu) run them one thread each; tests/cuda/passes_test.cpp runs them on
// the host, every thread in turn, against the CPU passes, so their logic is checked without a GPU.
// Every float operation is a z_math.hpp call: the same rounding on both sides.
#pragma once

#include "job.hpp"
#include "zo/core/direction.hpp"
#include "zo/core/dtype_bits.hpp"
#include "zo/core/random.hpp"
#include "zo/core/z_math.hpp"

#include <cstdint>

namespace zo::cuda::detail {

inline constexpr int kFill = -1;  // the mode of a fill; a perturbation's mode is its DType
inline constexpr auto kValueStream = std::uint32_t(Stream::value);
inline constexpr auto kMaskStream = std::uint32_t(Stream::mask);

// Element i of the param receives z: written out (a fill) or applied to θ in the param's storage type.
template <int Mode>
ZO_HOST_DEVICE void put(const Job& j, std::int64_t i, float z) {
  if constexpr (Mode == kFill) {
    j.out[i - j.begin] = z;
  } else if constexpr (Mode == int(DType::f32)) {
    float* t = static_cast<float*>(j.theta) + i;
    *t = zmath::fma(j.alpha, z, *t);
  } else if constexpr (Mode == int(DType::f16)) {
    std::uint16_t* t = static_cast<std::uint16_t*>(j.theta) + i;
    *t = f32_to_f16(zmath::fma(j.alpha, z, f16_to_f32(*t)));
  } else {
    std::uint16_t* t = static_cast<std::uint16_t*>(j.theta) + i;
    *t = f32_to_bf16(zmath::fma(j.alpha, z, bf16_to_f32(*t)));
  }
}

// Threads of each pass over the job (thread t runs pass_thread(j, t) for t < count).
ZO_HOST_DEVICE std::int64_t dense_threads(const Job& j) { return (j.end + 3) / 4 - j.begin / 4; }
ZO_HOST_DEVICE std::int64_t sparse_threads(const Job& j) { return (j.end - 1) / kSparseSpan - j.begin / kSparseSpan + 1; }
ZO_HOST_DEVICE std::int64_t low_rank_threads(const Job& j) { return j.end - j.begin; }

// Dense: thread t draws the elements 4c … 4c + 3 of counter c = begin / 4 + t (Box-Muller on word
// pairs, or four signs of word 4c / 32).
template <int Mode>
ZO_HOST_DEVICE void dense_thread(const Job& j, std::int64_t t) {
  const std::int64_t c = j.begin / 4 + t;
  const std::int64_t e0 = 4 * c;
  float z[4];
  if (j.rademacher) {
    const std::uint32_t w = zmath::word_at(j.seed, j.key, kValueStream, std::uint64_t(e0) / 32);
    for (int q = 0; q < 4; ++q) z[q] = hd::float_of(0x3f800000u | (((w >> ((e0 + q) % 32)) & 1u) << 31));
  } else {
    const zmath::Words w = zmath::stream_words(j.seed, j.key, kValueStream, std::uint64_t(c));
    zmath::normal_pair(w.w[0], w.w[1], z[0], z[1]);
    zmath::normal_pair(w.w[2], w.w[3], z[2], z[3]);
  }
  for (int q = 0; q < 4; ++q) {
    const std::int64_t i = e0 + q;
    if (i < j.begin || i >= j.end) continue;
    put<Mode>(j, i, j.scale != 1.0f ? zmath::mul(z[q], j.scale) : z[q]);
  }
}

// Sparse: thread t walks the kept runs of span s = begin / S + t (direction.hpp): draw d of the span
// is mask word s·S + d, and the k-th kept coordinate takes value element s·S + k.
template <int Mode>
ZO_HOST_DEVICE void sparse_thread(const Job& j, std::int64_t t) {
  const std::int64_t base = (j.begin / kSparseSpan + t) * kSparseSpan;
  const std::int64_t g = j.granule;
  const std::int64_t units = kSparseSpan / g;
  std::int64_t pos = -1;
  std::int64_t k = 0;
  for (std::int64_t d = 0;; ++d) {
    const std::uint32_t w = zmath::word_at(j.seed, j.key, kMaskStream, std::uint64_t(base + d));
    pos += 1 + std::int64_t(zmath::gap_of(w, j.gap_c));
    if (pos >= units) break;
    for (std::int64_t r = 0; r < g; ++r, ++k) {
      const std::int64_t i = base + pos * g + r;
      if (i < j.begin || i >= j.end || i >= j.numel) continue;
      const auto element = std::uint64_t(base + k);
      const float raw = j.rademacher ? zmath::rademacher_at(j.seed, j.key, kValueStream, element)
                                     : zmath::normal_at(j.seed, j.key, kValueStream, element);
      put<Mode>(j, i, zmath::mul(raw, j.kept_scale));
    }
  }
}

// Low-rank: thread t computes element i = begin + t, (row, col) = (i / cols, i % cols), as
// Σ_k u[row, k] · v[col, k]: one product, then fmas in k order (the CPU's low_rank_row).
template <int Mode>
ZO_HOST_DEVICE void low_rank_thread(const Job& j, std::int64_t t) {
  const std::int64_t i = j.begin + t;
  const std::int64_t row = i / j.cols;
  const std::int64_t col = i - row * j.cols;
  const float* u = j.u + row * j.rank;
  const float* v = j.v + col * j.rank;
  float acc = zmath::mul(u[0], v[0]);
  for (int k = 1; k < j.rank; ++k) acc = zmath::fma(u[k], v[k], acc);
  put<Mode>(j, i, acc);
}

// The low-rank factors (launch.hpp's launch_factors): thread t < u_count writes u[t], the next
// v_count threads write v.
ZO_HOST_DEVICE void factor_thread(std::uint64_t seed, std::uint32_t key, bool rademacher, float factor,
                                  std::int64_t u_count, float* u, float* v, std::int64_t t) {
  const bool in_u = t < u_count;
  const std::int64_t e = in_u ? t : t - u_count;
  const auto stream = std::uint32_t(in_u ? Stream::low_rank_u : Stream::low_rank_v);
  const float raw = rademacher ? zmath::rademacher_at(seed, key, stream, std::uint64_t(e))
                               : zmath::normal_at(seed, key, stream, std::uint64_t(e));
  if (in_u) {
    u[e] = zmath::mul(raw, factor);
  } else {
    v[e] = raw;
  }
}

}  // namespace zo::cuda::detail
