// The element-wise math of zo's z streams (random.hpp), one definition compiled for the host and for
// CUDA devices: Philox4x32-10, the normal of an element (Box-Muller on a word pair with zo's own float
// log and sin/cos polynomials), the packed Rademacher sign, the raw word and the geometric gap.
//
// Every step is one IEEE-754 float operation with round-to-nearest: products and sums are written
// apart (never contracted into an fma) and every fma is written out, so a GPU computes the same bits
// as the CPU. The C++ library's vectorised draws (src/core/random.cpp) perform the same operations in
// the same order; tests/core/z_math_test.cpp holds this header's host side to them bit for bit.
// Compile device code without fast math (no --use_fast_math, -fmad=false): this header does not
// rely on it, but other code in the same translation unit should not change the rounding either.
#pragma once

#include "zo/core/host_device.hpp"

#include <cmath>
#include <cstdint>

namespace zo::zmath {

// One float operation each, rounded to nearest, never fused with a neighbour.
ZO_HOST_DEVICE float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ZO_HOST_DEVICE float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ZO_HOST_DEVICE float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
ZO_HOST_DEVICE float div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
ZO_HOST_DEVICE float fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
ZO_HOST_DEVICE float sqrt(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
using hd::bits_of;
using hd::float_of;

struct Words {
  std::uint32_t w[4];
};

// Philox4x32-10 (philox.hpp) on counter (c0, c1, c2, c3) under key (k0, k1).
ZO_HOST_DEVICE Words philox(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0,
                            std::uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(0xD2511F53u) * c0;
    const std::uint64_t p1 = std::uint64_t(0xCD9E8D57u) * c2;
    const std::uint32_t n0 = std::uint32_t(p1 >> 32) ^ c1 ^ k0;
    const std::uint32_t n2 = std::uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = std::uint32_t(p1);
    c3 = std::uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

// The four words of counter `counter` in the stream (seed, tensor key, stream id) (random.hpp):
// key (lo32(seed), tensor), counter (lo32, hi32 of `counter`, hi32(seed), stream).
ZO_HOST_DEVICE Words stream_words(std::uint64_t seed, std::uint32_t tensor, std::uint32_t stream, std::uint64_t counter) {
  return philox(std::uint32_t(counter), std::uint32_t(counter >> 32), std::uint32_t(seed >> 32), stream,
                std::uint32_t(seed), tensor);
}

// −2·ln(u) with u = (a + 0.5)·2^-32, accurate in relative terms over all of (0, 1): for a < 2^31 u is
// formed directly; above, 1 − u = (~a + 0.5)·2^-32 is formed instead, so the values near u = 1 keep
// their precision. ln u = e·ln 2 + log1p(f), f in [√½ − 1, √2 − 1], with the Cephes logf polynomial
// (relative error ~1e-7) evaluated by Estrin's scheme.
ZO_HOST_DEVICE float minus_two_log_u1(std::uint32_t a) {
  const std::uint32_t high_mask = std::uint32_t(std::int32_t(a) >> 31);  // all ones when a >= 2^31
  const std::uint32_t v = a ^ high_mask;                                 // < 2^31 either way
  const float t = mul(add(float(std::int32_t(v)), 0.5f), 0x1p-32f);     // u (low) or 1 − u (high)
  // Low half: t = 2^e · m, m in [√½, √2).
  const std::uint32_t tb = bits_of(t);
  const std::uint32_t mant = tb & 0x007fffffu;
  const std::uint32_t big = mant > 0x003504f3u ? 1u : 0u;  // m > √2 when the exponent is 0: halve it
  const float m_low = float_of(mant | ((127u - big) << 23));
  const float f_low = sub(m_low, 1.0f);
  const float e_low = float(std::int32_t(tb >> 23) - 127 + std::int32_t(big));
  // High half: u = 1 − t; for u >= √½ take e = 0, f = −t, else e = −1, f = 1 − 2t (exact).
  const bool near_one = t <= 0.29289321881345248f;
  const float f_high = near_one ? -t : sub(1.0f, mul(2.0f, t));
  const float e_high = near_one ? 0.0f : -1.0f;
  const bool high = high_mask != 0;
  const float f = high ? f_high : f_low;
  const float e = high ? e_high : e_low;

  const float z = mul(f, f);
  const float q0 = fma(-2.4999993993e-1f, f, 3.3333331174e-1f);
  const float q1 = fma(-1.6668057665e-1f, f, 2.0000714765e-1f);
  const float q2 = fma(-1.2420140846e-1f, f, 1.4249322787e-1f);
  const float q3 = fma(-1.1514610310e-1f, f, 1.1676998740e-1f);
  const float q01 = fma(q1, z, q0);
  const float q23 = fma(q3, z, q2);
  const float z2 = mul(z, z);
  const float p = fma(z2, fma(z2, 7.0376836292e-2f, q23), q01);
  float y = mul(mul(f, z), p);
  y = fma(e, -2.12194440e-4f, y);
  y = fma(-0.5f, z, y);
  float ln = add(f, y);
  ln = fma(e, 0.693359375f, ln);
  const float r = mul(-2.0f, ln);
  return r > 0.0f ? r : 0.0f;
}

// cos and sin of 2π·b·2^-32. The quadrant comes from the integer b itself (exact reduction); the
// remainder angle lies in [−π/4, π/4) where the Cephes sinf/cosf polynomials are accurate to ~1 ulp.
ZO_HOST_DEVICE void cos_sin_turns(std::uint32_t b, float& c_out, float& s_out) {
  const std::uint32_t q = (b + 0x20000000u) >> 30;
  const std::int32_t rest = std::int32_t(b - (q << 30));
  const float x = mul(float(rest), 1.46291807926715968e-9f);  // 2π / 2^32
  const float z = mul(x, x);
  float sp = -1.9515295891e-4f;
  sp = fma(sp, z, 8.3321608736e-3f);
  sp = fma(sp, z, -1.6666654611e-1f);
  const float s = fma(mul(sp, z), x, x);
  float cp = 2.443315711809948e-5f;
  cp = fma(cp, z, -1.388731625493765e-3f);
  cp = fma(cp, z, 4.166664568298827e-2f);
  const float c = fma(mul(cp, z), z, fma(-0.5f, z, 1.0f));
  const bool swap = (q & 1u) != 0;
  const std::uint32_t cos_sign = ((q + 1u) & 2u) << 30;  // quadrants 1, 2
  const std::uint32_t sin_sign = (q & 2u) << 30;         // quadrants 2, 3
  c_out = float_of(bits_of(swap ? s : c) ^ cos_sign);
  s_out = float_of(bits_of(swap ? c : s) ^ sin_sign);
}

// The normals of the two elements a word pair (w0, w1) gives: r·cos and r·sin, r = √(−2 ln u(w0)).
ZO_HOST_DEVICE void normal_pair(std::uint32_t w0, std::uint32_t w1, float& first, float& second) {
  const float r = sqrt(minus_two_log_u1(w0));
  float c, s;
  cos_sin_turns(w1, c, s);
  first = mul(r, c);
  second = mul(r, s);
}

// N(0, 1) of element i: Box-Muller on words (0, 1) or (2, 3) of counter i / 4, cos for even i.
ZO_HOST_DEVICE float normal_at(std::uint64_t seed, std::uint32_t tensor, std::uint32_t stream, std::uint64_t i) {
  const Words w = stream_words(seed, tensor, stream, i / 4);
  const int pair = int(i % 4) & 2;
  float first, second;
  normal_pair(w.w[pair], w.w[pair + 1], first, second);
  return (i % 2) ? second : first;
}

// Raw word i: word i % 4 of counter i / 4.
ZO_HOST_DEVICE std::uint32_t word_at(std::uint64_t seed, std::uint32_t tensor, std::uint32_t stream, std::uint64_t i) {
  return stream_words(seed, tensor, stream, i / 4).w[i % 4];
}

// ±1 of element i: −1 when bit i % 32 of word i / 32 is set.
ZO_HOST_DEVICE float rademacher_at(std::uint64_t seed, std::uint32_t tensor, std::uint32_t stream, std::uint64_t i) {
  const std::uint32_t w = word_at(seed, tensor, stream, i / 32);
  return float_of(0x3f800000u | (((w >> (i % 32)) & 1u) << 31));
}

// The geometric gap of word w for scale c (random.hpp, fill_gaps): min(floor(−2 ln u · c), 2^24).
ZO_HOST_DEVICE std::uint32_t gap_of(std::uint32_t w, float c) {
  const float g = mul(minus_two_log_u1(w), c);
  return std::uint32_t(g < 0x1p24f ? g : 0x1p24f);
}

}  // namespace zo::zmath
