// Storage types of parameters and tensors, and the conversions between them.
// zo computes in float32; parameters may be stored as float32, bfloat16 or float16.
#pragma once

#include "zo/core/dtype_bits.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zo {

enum class DType : std::uint8_t { f32, f16, bf16 };

std::string_view to_string(DType dtype);          // "f32", "f16", "bf16"
DType dtype_from_string(std::string_view name);   // accepts those and "float32"/"float16"/"bfloat16"; throws zo::Error
std::size_t size_of(DType dtype);                 // bytes per element

// The scalar conversions (bf16_to_f32, f32_to_bf16, f16_to_f32, f32_to_f16) are in dtype_bits.hpp.

// Converts n elements of storage type `from` at src to float32 at dst, and back.
void to_f32(DType from, const void* src, float* dst, std::size_t n);
void from_f32(DType to, const float* src, void* dst, std::size_t n);

}  // namespace zo
