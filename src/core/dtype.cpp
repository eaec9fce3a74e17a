// Storage types and float32 conversions. The bulk conversions use F16C (part of x86-64-v3) when the
// build enables it; the scalar forms are the portable reference and give the same bits for every
// non-NaN input (NaN stays a quiet NaN with the top payload bits kept, as F16C does).
#include "zo/core/dtype.hpp"

#include "zo/util/error.hpp"

#include <cstring>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

namespace zo {

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  fail("dtype {}: not a valid DType", int(dtype));
}

DType dtype_from_string(std::string_view name) {
  if (name == "f32" || name == "float32") return DType::f32;
  if (name == "f16" || name == "float16") return DType::f16;
  if (name == "bf16" || name == "bfloat16") return DType::bf16;
  fail("dtype '{}': unknown; valid names are f32, f16, bf16 (or float32, float16, bfloat16)", name);
}

std::size_t size_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::bf16: return 2;
  }
  fail("dtype {}: not a valid DType", int(dtype));
}

void to_f32(DType from, const void* src, float* dst, std::size_t n) {
  switch (from) {
    case DType::f32:
      if (n) std::memmove(dst, src, n * sizeof(float));
      return;
    case DType::bf16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::f16: {
      const auto* s = static_cast<const std::uint16_t*>(src);
      std::size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
      for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
      }
#endif
      for (; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
  }
  fail("dtype {}: not a valid DType", int(from));
}

void from_f32(DType to, const float* src, void* dst, std::size_t n) {
  switch (to) {
    case DType::f32:
      if (n) std::memmove(dst, src, n * sizeof(float));
      return;
    case DType::bf16: {
      auto* d = static_cast<std::uint16_t*>(dst);
      for (std::size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::f16: {
      auto* d = static_cast<std::uint16_t*>(dst);
      std::size_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
      for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), h);
      }
#endif
      for (; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
  }
  fail("dtype {}: not a valid DType", int(to));
}

}  // namespace zo
