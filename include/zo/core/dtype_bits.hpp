// Scalar float32 <-> bfloat16 / float16 conversions by their bits, for the host and for CUDA device
// code alike: round to nearest even, subnormals and infinities exact, NaN kept a quiet NaN with its
// top payload bits (as x86's F16C does), so a GPU pass rounds θ exactly as the CPU pass does.
#pragma once

#include "zo/core/host_device.hpp"

#include <cstdint>

namespace zo {

ZO_HOST_DEVICE float bf16_to_f32(std::uint16_t h) { return hd::float_of(std::uint32_t(h) << 16); }

ZO_HOST_DEVICE std::uint16_t f32_to_bf16(float f) {
  std::uint32_t u = hd::bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

ZO_HOST_DEVICE float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2^-24, exact in float32.
    const float magnitude = float(mantissa) * 0x1p-24f;
    return hd::float_of(hd::bits_of(magnitude) | sign);
  }
  if (exponent == 31) return hd::float_of(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  return hd::float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

ZO_HOST_DEVICE std::uint16_t f32_to_f16(float f) {
  const std::uint32_t bits = hd::bits_of(f);
  const std::uint16_t sign = std::uint16_t((bits >> 16) & 0x8000u);
  const std::uint32_t u = bits & 0x7fffffffu;
  if (u > 0x7f800000u) return std::uint16_t(sign | 0x7e00u | ((u >> 13) & 0x3ffu));  // quiet NaN
  if (u >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (u < 0x38800000u) {
    // Result is subnormal (or zero): count units of 2^-24, rounding to nearest even.
    if (u <= 0x33000000u) return sign;  // <= 2^-25: the halfway case rounds to the even zero
    const std::uint32_t e = u >> 23;
    const std::uint32_t m = (u & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // 14 … 24
    std::uint32_t h = m >> shift;
    const std::uint32_t rest = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (h & 1u))) ++h;
    return std::uint16_t(sign | h);
  }
  std::uint32_t h = (u - 0x38000000u) >> 13;  // rebias the exponent from 127 to 15
  const std::uint32_t rest = u & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry may reach the exponent: correct
  return std::uint16_t(sign | h);
}

}  // namespace zo
