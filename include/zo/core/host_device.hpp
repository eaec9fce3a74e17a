// Marks the small functions that CUDA device code compiles too (z_math.hpp, dtype_bits.hpp), and the
// bit casts they share. Outside nvcc they are ordinary inline host functions.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ZO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ZO_HOST_DEVICE inline
#endif

namespace zo::hd {

ZO_HOST_DEVICE std::uint32_t bits_of(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  return __builtin_bit_cast(std::uint32_t, f);
#endif
}

ZO_HOST_DEVICE float float_of(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return __builtin_bit_cast(float, u);
#endif
}

}  // namespace zo::hd
