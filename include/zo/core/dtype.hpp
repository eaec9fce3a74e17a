// Storage types of parameters and tensors, and the conversions between them.
// zo computes in float32; parameters may be stored as float32, bfloat16 or float16.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zo {

enum class DType : std::uint8_t { f32, f16, bf16 };

std::string_view to_string(DType dtype);          // "f32", "f16", "bf16"
DType dtype_from_string(std::string_view name);   // accepts those and "float32"/"float16"/"bfloat16"; throws zo::Error
std::size_t size_of(DType dtype);                 // bytes per element

// bfloat16 <-> float32, round to nearest even; NaN stays NaN.
inline float bf16_to_f32(std::uint16_t h) { return std::bit_cast<float>(std::uint32_t(h) << 16); }
inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}

// IEEE binary16 <-> float32, round to nearest even; handles subnormals, infinities and NaN.
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);

// Converts n elements of storage type `from` at src to float32 at dst, and back.
void to_f32(DType from, const void* src, float* dst, std::size_t n);
void from_f32(DType to, const float* src, void* dst, std::size_t n);

}  // namespace zo
