// Philox streams and their transforms. All draws go through bits_batch_at / normal_batch_at
// (random_batch.hpp), hand-vectorised for AVX2 + FMA, with the element-wise math of z_math.hpp (the
// same operations in the same order, also compiled for CUDA) as the scalar path of other builds;
// fills copy the part of each batch they need.
#include "zo/core/random.hpp"

#include "random_batch.hpp"
#include "zo/util/error.hpp"
#include "zo/core/philox.hpp"
#include "zo/core/z_math.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace zo {


namespace detail {

#if defined(__AVX2__) && defined(__FMA__)

namespace {

// Philox4x32-10 on G groups of 8 counters; c[g][j] holds word j of group g, one lane per counter.
// The groups are independent, so their multiply latencies overlap.
template <int G>
inline void philox8(__m256i (&c)[G][4], std::uint32_t k0, std::uint32_t k1) {
  const __m256i m0 = _mm256_set1_epi32(std::int32_t(kPhiloxM0));
  const __m256i m1 = _mm256_set1_epi32(std::int32_t(kPhiloxM1));
  for (int round = 0; round < 10; ++round) {
    const __m256i key0 = _mm256_set1_epi32(std::int32_t(k0));
    const __m256i key1 = _mm256_set1_epi32(std::int32_t(k1));
    for (int g = 0; g < G; ++g) {
      // High halves from 64-bit products of the even and odd lanes; low halves from mullo.
      const __m256i e0 = _mm256_mul_epu32(c[g][0], m0);
      const __m256i o0 = _mm256_mul_epu32(_mm256_srli_epi64(c[g][0], 32), m0);
      const __m256i e1 = _mm256_mul_epu32(c[g][2], m1);
      const __m256i o1 = _mm256_mul_epu32(_mm256_srli_epi64(c[g][2], 32), m1);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(e0, 32), o0, 0xAA);
      const __m256i lo0 = _mm256_mullo_epi32(c[g][0], m0);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(e1, 32), o1, 0xAA);
      const __m256i lo1 = _mm256_mullo_epi32(c[g][2], m1);
      c[g][0] = _mm256_xor_si256(hi1, _mm256_xor_si256(c[g][1], key0));
      c[g][2] = _mm256_xor_si256(hi0, _mm256_xor_si256(c[g][3], key1));
      c[g][1] = lo1;
      c[g][3] = lo0;
    }
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
}

// Loads the 8 counters at `counters` for stream s.
inline void load_counters(const RandomStream& s, const std::uint64_t* counters, __m256i& c0, __m256i& c1, __m256i& c2,
                          __m256i& c3) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(counters));      // counters 0..3
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(counters + 4));  // 4..7
  // Gather the low and high halves into lane order 0..7.
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i pa = _mm256_permutevar8x32_epi32(a, idx);  // lo0..lo3 | hi0..hi3
  const __m256i pb = _mm256_permutevar8x32_epi32(b, idx);  // lo4..lo7 | hi4..hi7
  c0 = _mm256_permute2x128_si256(pa, pb, 0x20);
  c1 = _mm256_permute2x128_si256(pa, pb, 0x31);
  c2 = _mm256_set1_epi32(std::int32_t(s.seed >> 32));
  c3 = _mm256_set1_epi32(std::int32_t(s.stream));
}

// Stores lane l of x0..x3 to out[4l + 0..3] (a 4×8 transpose).
inline void store_interleaved(__m256i x0, __m256i x1, __m256i x2, __m256i x3, void* out) {
  const __m256i t0 = _mm256_unpacklo_epi32(x0, x1);
  const __m256i t1 = _mm256_unpackhi_epi32(x0, x1);
  const __m256i t2 = _mm256_unpacklo_epi32(x2, x3);
  const __m256i t3 = _mm256_unpackhi_epi32(x2, x3);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);  // lanes 0 | 4
  const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);  // lanes 1 | 5
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);  // lanes 2 | 6
  const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);  // lanes 3 | 7
  auto* o = static_cast<__m256i*>(out);
  _mm256_storeu_si256(o + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
  _mm256_storeu_si256(o + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
  _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
  _mm256_storeu_si256(o + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

inline __m256 v_minus_two_log_u1(__m256i a) {
  const __m256i high_mask = _mm256_srai_epi32(a, 31);
  const __m256i v = _mm256_xor_si256(a, high_mask);
  const __m256 t = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(0.5f)), _mm256_set1_ps(0x1p-32f));
  const __m256i tb = _mm256_castps_si256(t);
  const __m256i mant = _mm256_and_si256(tb, _mm256_set1_epi32(0x007fffff));
  const __m256i big = _mm256_cmpgt_epi32(mant, _mm256_set1_epi32(0x003504f3));  // -1 where m > √2
  const __m256i exp_field = _mm256_add_epi32(_mm256_set1_epi32(127), big);
  const __m256 m_low = _mm256_castsi256_ps(_mm256_or_si256(mant, _mm256_slli_epi32(exp_field, 23)));
  const __m256 f_low = _mm256_sub_ps(m_low, _mm256_set1_ps(1.0f));
  const __m256 e_low = _mm256_cvtepi32_ps(
      _mm256_sub_epi32(_mm256_sub_epi32(_mm256_srli_epi32(tb, 23), _mm256_set1_epi32(127)), big));
  const __m256 near_one = _mm256_cmp_ps(t, _mm256_set1_ps(0.29289321881345248f), _CMP_LE_OQ);
  const __m256 neg_t = _mm256_xor_ps(t, _mm256_set1_ps(-0.0f));
  const __m256 f_high = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(_mm256_set1_ps(2.0f), t)),
                                         neg_t, near_one);
  const __m256 e_high = _mm256_blendv_ps(_mm256_set1_ps(-1.0f), _mm256_setzero_ps(), near_one);
  const __m256 high = _mm256_castsi256_ps(high_mask);
  const __m256 f = _mm256_blendv_ps(f_low, f_high, high);
  const __m256 e = _mm256_blendv_ps(e_low, e_high, high);

  const __m256 z = _mm256_mul_ps(f, f);
  // p(f) = P0 f^8 + … + P8 by Estrin's scheme (four dependent steps instead of eight).
  const __m256 q0 = _mm256_fmadd_ps(_mm256_set1_ps(-2.4999993993e-1f), f, _mm256_set1_ps(3.3333331174e-1f));
  const __m256 q1 = _mm256_fmadd_ps(_mm256_set1_ps(-1.6668057665e-1f), f, _mm256_set1_ps(2.0000714765e-1f));
  const __m256 q2 = _mm256_fmadd_ps(_mm256_set1_ps(-1.2420140846e-1f), f, _mm256_set1_ps(1.4249322787e-1f));
  const __m256 q3 = _mm256_fmadd_ps(_mm256_set1_ps(-1.1514610310e-1f), f, _mm256_set1_ps(1.1676998740e-1f));
  const __m256 q01 = _mm256_fmadd_ps(q1, z, q0);
  const __m256 q23 = _mm256_fmadd_ps(q3, z, q2);
  const __m256 z2 = _mm256_mul_ps(z, z);
  const __m256 p = _mm256_fmadd_ps(z2, _mm256_fmadd_ps(z2, _mm256_set1_ps(7.0376836292e-2f), q23), q01);
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(f, z), p);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), z, y);
  __m256 ln = _mm256_add_ps(f, y);
  ln = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), ln);
  return _mm256_max_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), ln), _mm256_setzero_ps());
}

inline void v_cos_sin_turns(__m256i b, __m256& c_out, __m256& s_out) {
  const __m256i q = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_set1_epi32(0x20000000)), 30);
  const __m256i rest = _mm256_sub_epi32(b, _mm256_slli_epi32(q, 30));
  const __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(rest), _mm256_set1_ps(1.46291807926715968e-9f));
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 sp = _mm256_set1_ps(-1.9515295891e-4f);
  sp = _mm256_fmadd_ps(sp, z, _mm256_set1_ps(8.3321608736e-3f));
  sp = _mm256_fmadd_ps(sp, z, _mm256_set1_ps(-1.6666654611e-1f));
  const __m256 s = _mm256_fmadd_ps(_mm256_mul_ps(sp, z), x, x);
  __m256 cp = _mm256_set1_ps(2.443315711809948e-5f);
  cp = _mm256_fmadd_ps(cp, z, _mm256_set1_ps(-1.388731625493765e-3f));
  cp = _mm256_fmadd_ps(cp, z, _mm256_set1_ps(4.166664568298827e-2f));
  const __m256 c = _mm256_fmadd_ps(_mm256_mul_ps(cp, z), z, _mm256_fmadd_ps(_mm256_set1_ps(-0.5f), z, _mm256_set1_ps(1.0f)));
  const __m256 swap = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
  const __m256 cos_sign = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, _mm256_set1_epi32(1)), _mm256_set1_epi32(2)), 30));
  const __m256 sin_sign = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(q, _mm256_set1_epi32(2)), 30));
  c_out = _mm256_xor_ps(_mm256_blendv_ps(c, s, swap), cos_sign);
  s_out = _mm256_xor_ps(_mm256_blendv_ps(s, c, swap), sin_sign);
}

}  // namespace

constexpr int kGroups = kBatchCounters / 8;

[[gnu::noinline]] void bits_batch_at(const RandomStream& s, const std::uint64_t* counters, std::uint32_t* out) {
  __m256i c[kGroups][4];
  for (int g = 0; g < kGroups; ++g) load_counters(s, counters + 8 * g, c[g][0], c[g][1], c[g][2], c[g][3]);
  philox8<kGroups>(c, std::uint32_t(s.seed), s.tensor);
  for (int g = 0; g < kGroups; ++g) store_interleaved(c[g][0], c[g][1], c[g][2], c[g][3], out + 32 * g);
}

// Normals of G groups of 8 counters (each lane's operations do not depend on G).
template <int G>
void normals_of(const RandomStream& s, const std::uint64_t* counters, float* out) {
  __m256i c[G][4];
  for (int g = 0; g < G; ++g) load_counters(s, counters + 8 * g, c[g][0], c[g][1], c[g][2], c[g][3]);
  philox8<G>(c, std::uint32_t(s.seed), s.tensor);
  for (int g = 0; g < G; ++g) {
    const __m256 r01 = _mm256_sqrt_ps(v_minus_two_log_u1(c[g][0]));
    const __m256 r23 = _mm256_sqrt_ps(v_minus_two_log_u1(c[g][2]));
    __m256 cos01, sin01, cos23, sin23;
    v_cos_sin_turns(c[g][1], cos01, sin01);
    v_cos_sin_turns(c[g][3], cos23, sin23);
    store_interleaved(_mm256_castps_si256(_mm256_mul_ps(r01, cos01)), _mm256_castps_si256(_mm256_mul_ps(r01, sin01)),
                      _mm256_castps_si256(_mm256_mul_ps(r23, cos23)), _mm256_castps_si256(_mm256_mul_ps(r23, sin23)),
                      out + 32 * g);
  }
}

[[gnu::noinline]] void normal_batch_at(const RandomStream& s, const std::uint64_t* counters, float* out) {
  normals_of<kGroups>(s, counters, out);
}

// Gaps of G groups of 8 consecutive counters.
template <int G>
void gaps_of(const RandomStream& s, std::uint64_t first_counter, float c, std::uint32_t* out) {
  alignas(64) std::uint64_t counters[8 * G];
  for (int l = 0; l < 8 * G; ++l) counters[l] = first_counter + std::uint64_t(l);
  __m256i w[G][4];
  for (int g = 0; g < G; ++g) load_counters(s, counters + 8 * g, w[g][0], w[g][1], w[g][2], w[g][3]);
  philox8<G>(w, std::uint32_t(s.seed), s.tensor);
  const __m256 scale = _mm256_set1_ps(c);
  const __m256 cap = _mm256_set1_ps(0x1p24f);
  for (int g = 0; g < G; ++g) {
    __m256i gaps[4];
    for (int j = 0; j < 4; ++j) {
      // Truncation is floor here: the product is >= 0.
      gaps[j] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_mul_ps(v_minus_two_log_u1(w[g][j]), scale), cap));
    }
    store_interleaved(gaps[0], gaps[1], gaps[2], gaps[3], out + 32 * g);
  }
}

[[gnu::noinline]] void gap_batch(const RandomStream& s, std::uint64_t first_counter, float c, std::uint32_t* out) {
  gaps_of<kGroups>(s, first_counter, c, out);
}

void gap_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float c, std::uint32_t* out) {
  switch (groups) {
    case 1: return gaps_of<1>(s, first_counter, c, out);
    case 2: return gaps_of<2>(s, first_counter, c, out);
    case 3: return gaps_of<3>(s, first_counter, c, out);
    default: return gaps_of<4>(s, first_counter, c, out);
  }
}

void normal_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float* out) {
  alignas(64) std::uint64_t counters[kBatchCounters];
  for (int l = 0; l < kBatchCounters; ++l) counters[l] = first_counter + std::uint64_t(l);
  switch (groups) {
    case 1: return normals_of<1>(s, counters, out);
    case 2: return normals_of<2>(s, counters, out);
    case 3: return normals_of<3>(s, counters, out);
    default: return normals_of<4>(s, counters, out);
  }
}

void expand_signs(const std::uint32_t* words, std::int64_t count, float* out) {
  const __m256i one = _mm256_set1_epi32(0x3f800000);
  const __m256i top = _mm256_set1_epi32(std::int32_t(0x80000000u));
  // Lane l of shift vector q moves bit 8q + l to the top.
  const __m256i shift0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
  const __m256i eight = _mm256_set1_epi32(8);
  for (std::int64_t k = 0; k < count; ++k) {
    const __m256i w = _mm256_set1_epi32(std::int32_t(words[k]));
    __m256i shift = shift0;
    for (int q = 0; q < 4; ++q) {
      const __m256i sign = _mm256_and_si256(_mm256_sllv_epi32(w, shift), top);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * k + 8 * q), _mm256_or_si256(sign, one));
      shift = _mm256_sub_epi32(shift, eight);
    }
  }
}

#else  // portable scalar path: the same operations, one lane at a time

[[gnu::noinline]] void bits_batch_at(const RandomStream& s, const std::uint64_t* counters, std::uint32_t* out) {
  for (int l = 0; l < kBatchCounters; ++l) {
    const std::uint64_t counter = counters[l];
    const PhiloxCounter w = philox4x32_10(
        {std::uint32_t(counter), std::uint32_t(counter >> 32), std::uint32_t(s.seed >> 32), std::uint32_t(s.stream)},
        {std::uint32_t(s.seed), s.tensor});
    for (int j = 0; j < 4; ++j) out[4 * l + j] = w[std::size_t(j)];
  }
}

[[gnu::noinline]] void normal_batch_at(const RandomStream& s, const std::uint64_t* counters, float* out) {
  alignas(64) std::uint32_t w[kBatchElements];
  bits_batch_at(s, counters, w);
  for (int pair = 0; pair < kBatchElements; pair += 2) zmath::normal_pair(w[pair], w[pair + 1], out[pair], out[pair + 1]);
}

[[gnu::noinline]] void gap_batch(const RandomStream& s, std::uint64_t first_counter, float c, std::uint32_t* out) {
  alignas(64) std::uint32_t w[kBatchElements];
  bits_batch(s, first_counter, w);
  for (int k = 0; k < kBatchElements; ++k) out[k] = zmath::gap_of(w[k], c);
}

void gap_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float c, std::uint32_t* out) {
  alignas(64) std::uint32_t all[kBatchElements];
  gap_batch(s, first_counter, c, all);
  std::memcpy(out, all, std::size_t(32 * std::clamp(groups, 1, 4)) * sizeof(std::uint32_t));
}

void normal_groups(const RandomStream& s, std::uint64_t first_counter, int groups, float* out) {
  alignas(64) float all[kBatchElements];
  normal_batch(s, first_counter, all);
  std::memcpy(out, all, std::size_t(32 * std::clamp(groups, 1, 4)) * sizeof(float));
}

void expand_signs(const std::uint32_t* words, std::int64_t count, float* out) {
  for (std::int64_t k = 0; k < count; ++k) {
    for (int j = 0; j < 32; ++j) out[32 * k + j] = rademacher_from_bit(words[k], j);
  }
}

#endif

float gap_scale(double p) {
  if (!(p > 0.0 && p <= 1.0)) fail("gap probability p = {}: must be in (0, 1]", p);
  return p == 1.0 ? 0.0f : float(1.0 / (-2.0 * std::log1p(-p)));
}

void bits_batch(const RandomStream& s, std::uint64_t first_counter, std::uint32_t* out) {
  alignas(64) std::uint64_t counters[kBatchCounters];
  for (int l = 0; l < kBatchCounters; ++l) counters[l] = first_counter + std::uint64_t(l);
  bits_batch_at(s, counters, out);
}

void normal_batch(const RandomStream& s, std::uint64_t first_counter, float* out) {
  alignas(64) std::uint64_t counters[kBatchCounters];
  for (int l = 0; l < kBatchCounters; ++l) counters[l] = first_counter + std::uint64_t(l);
  normal_batch_at(s, counters, out);
}

}  // namespace detail

std::uint32_t tensor_key(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (const char ch : name) {
    h ^= std::uint8_t(ch);
    h *= 16777619u;
  }
  return h;
}

std::uint64_t derive_seed(std::uint64_t run_seed, std::uint64_t step, std::uint32_t purpose) {
  const PhiloxCounter out = philox4x32_10(
      {std::uint32_t(step), std::uint32_t(step >> 32), purpose, 0x7a6f5344u /* "zoSD" */},
      {std::uint32_t(run_seed), std::uint32_t(run_seed >> 32)});
  return (std::uint64_t(out[1]) << 32) | out[0];
}

namespace {

void check_range(const char* what, std::int64_t begin, std::int64_t n) {
  if (begin < 0 || n < 0) fail("{}: begin = {}, n = {}: must both be >= 0", what, begin, n);
}

// Calls emit(batch values, first element of the batch, index range [lo, hi) of the batch needed).
template <class T, class Batch>
void fill_batches(const RandomStream& s, std::int64_t begin, std::int64_t n, T* out, Batch batch) {
  if (n == 0) return;
  const std::uint64_t first = std::uint64_t(begin);
  const std::uint64_t end = first + std::uint64_t(n);
  std::uint64_t counter = first / 4;
  alignas(64) T tmp[detail::kBatchElements];
  while (4 * counter < end) {
    const std::uint64_t e0 = 4 * counter;
    const std::uint64_t lo = std::max(e0, first);
    const std::uint64_t hi = std::min(e0 + detail::kBatchElements, end);
    if (lo == e0 && hi == e0 + detail::kBatchElements) {
      batch(s, counter, out + (e0 - first));
    } else {
      batch(s, counter, tmp);
      std::memcpy(out + (lo - first), tmp + (lo - e0), (hi - lo) * sizeof(T));
    }
    counter += detail::kBatchCounters;
  }
}

}  // namespace

void fill_bits(const RandomStream& s, std::int64_t begin, std::int64_t n, std::uint32_t* out) {
  check_range("fill_bits", begin, n);
  fill_batches(s, begin, n, out, detail::bits_batch);
}

void fill_normal(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out) {
  check_range("fill_normal", begin, n);
  fill_batches(s, begin, n, out, detail::normal_batch);
}

void fill_uniform(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out) {
  check_range("fill_uniform", begin, n);
  fill_batches(s, begin, n, out, [](const RandomStream& st, std::uint64_t counter, float* dst) {
    alignas(64) std::uint32_t w[detail::kBatchElements];
    detail::bits_batch(st, counter, w);
    for (int k = 0; k < detail::kBatchElements; ++k) dst[k] = detail::uniform_from_bits(w[k]);
  });
}

void fill_rademacher(const RandomStream& s, std::int64_t begin, std::int64_t n, float* out) {
  check_range("fill_rademacher", begin, n);
  if (n == 0) return;
  // One batch of 128 words holds the signs of 4096 elements. Whole words inside the range are
  // expanded 32 signs at a time; the words cut by its ends one sign at a time.
  constexpr std::int64_t kSpan = 32 * detail::kBatchElements;
  const std::int64_t end = begin + n;
  alignas(64) std::uint32_t words[detail::kBatchElements];
  for (std::int64_t e0 = begin / kSpan * kSpan; e0 < end; e0 += kSpan) {
    detail::bits_batch(s, std::uint64_t(e0 / 128), words);
    const std::int64_t lo = std::max(e0, begin);
    const std::int64_t hi = std::min(e0 + kSpan, end);
    const std::int64_t full_lo = (lo + 31) / 32 * 32;  // first whole word inside [lo, hi)
    const std::int64_t full_hi = std::max(full_lo, hi / 32 * 32);
    for (std::int64_t i = lo; i < std::min(full_lo, hi); ++i) {
      out[i - begin] = detail::rademacher_from_bit(words[(i - e0) / 32], int(i % 32));
    }
    detail::expand_signs(words + (full_lo - e0) / 32, (full_hi - full_lo) / 32, out + (full_lo - begin));
    for (std::int64_t i = std::max(full_hi, std::min(full_lo, hi)); i < hi; ++i) {
      out[i - begin] = detail::rademacher_from_bit(words[(i - e0) / 32], int(i % 32));
    }
  }
}

void fill_gaps(const RandomStream& s, std::int64_t begin, std::int64_t n, double p, std::uint32_t* out) {
  check_range("fill_gaps", begin, n);
  const float c = detail::gap_scale(p);
  fill_batches(s, begin, n, out, [c](const RandomStream& st, std::uint64_t counter, std::uint32_t* dst) {
    detail::gap_batch(st, counter, c, dst);
  });
}

void check_z_stream_version(int recorded, std::string_view where) {
  if (recorded == kZStreamVersion) return;
  fail("{}: recorded with z-stream version {}, but this zo draws version {}: its directions would differ, so it "
       "cannot be resumed or replayed (use the zo that recorded it)",
       where, recorded, kZStreamVersion);
}

float normal_at(const RandomStream& s, std::int64_t i) {
  check_range("normal_at", i, 1);
  alignas(64) float tmp[detail::kBatchElements];
  detail::normal_batch(s, std::uint64_t(i) / 4, tmp);
  return tmp[i % 4];
}

std::uint32_t bits_at(const RandomStream& s, std::int64_t i) {
  check_range("bits_at", i, 1);
  const std::uint64_t counter = std::uint64_t(i) / 4;
  const PhiloxCounter w = philox4x32_10(
      {std::uint32_t(counter), std::uint32_t(counter >> 32), std::uint32_t(s.seed >> 32), std::uint32_t(s.stream)},
      {std::uint32_t(s.seed), s.tensor});
  return w[std::size_t(i % 4)];
}

}  // namespace zo
