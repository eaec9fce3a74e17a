// What one Gaussian element costs on one core, against the copy loop the dense-perturbation goal is
// measured by (a dense pass at >= 0.5 x the speed of `x[i] += c`). It shows where that goal
// fails: the Philox4x32-10 word alone costs more than half a copy-loop element, and the transforms a
// normal needs come on top. Cases, per element of a 2^22-float buffer (16 MB, beyond L2), one thread:
//   copy          x[i] += c
//   philox_word   one Philox4x32-10 output word (zo::fill_bits): the floor of one-word-per-element
//   normal        zo::fill_normal (Box-Muller on word pairs, zo's polynomials) then x[i] += a·z[i]
//   table16       TWO elements per Philox word: each 16-bit half indexes a 65 536-entry inverse-CDF table
//                 (AVX2 gather), then x[i] += a·z[i] — the cheapest "fewer words per normal" design
//   rademacher    zo::fill_rademacher then x[i] += a·z[i]
// Read the `ns/elem` counter (CPU time per element); ratios to `copy` are what matter.
//
//   build/bench/normal_cost_bench [--benchmark_repetitions=3]
#include "zo/core/random.hpp"

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

constexpr std::int64_t kN = std::int64_t(1) << 22;
constexpr std::int64_t kChunk = 2048;

std::vector<float>& buffer() {
  static std::vector<float> x(std::size_t(kN), 1.0f);
  return x;
}

// Φ⁻¹((k + ½) / 65536) by bisection on erfc (accuracy is not the point here, cost is).
const std::vector<float>& table16() {
  static const std::vector<float> t = [] {
    std::vector<float> out(65536);
    for (int k = 0; k < 65536; ++k) {
      const double p = (k + 0.5) / 65536.0;
      double lo = -6.0, hi = 6.0;
      for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
      }
      out[std::size_t(k)] = float(0.5 * (lo + hi));
    }
    return out;
  }();
  return t;
}

void report(benchmark::State& state) {
  state.counters["ns/elem"] = benchmark::Counter(double(kN) * double(state.iterations()) * 1e-9,
                                                 benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_copy(benchmark::State& state) {
  auto& x = buffer();
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kN; ++i) x[std::size_t(i)] += 1e-3f;
    benchmark::ClobberMemory();
  }
  report(state);
}

void BM_philox_word(benchmark::State& state) {
  std::vector<std::uint32_t> w(kChunk);
  const zo::RandomStream s{1, 2, zo::Stream::value};
  std::uint32_t acc = 0;
  for (auto _ : state) {
    for (std::int64_t c = 0; c < kN; c += kChunk) {
      zo::fill_bits(s, c, kChunk, w.data());
      acc += w[7];
    }
    benchmark::DoNotOptimize(acc);
  }
  report(state);
}

template <class Fill>
void perturb_with(benchmark::State& state, Fill fill) {
  auto& x = buffer();
  std::vector<float> z(kChunk);
  for (auto _ : state) {
    for (std::int64_t c = 0; c < kN; c += kChunk) {
      fill(c, z.data());
      float* xc = x.data() + c;
      for (std::int64_t j = 0; j < kChunk; ++j) xc[j] = std::fma(1e-6f, z[std::size_t(j)], xc[j]);
    }
    benchmark::ClobberMemory();
  }
  report(state);
}

void BM_normal(benchmark::State& state) {
  const zo::RandomStream s{1, 2, zo::Stream::value};
  perturb_with(state, [&](std::int64_t c, float* z) { zo::fill_normal(s, c, kChunk, z); });
}

void BM_rademacher(benchmark::State& state) {
  const zo::RandomStream s{1, 2, zo::Stream::value};
  perturb_with(state, [&](std::int64_t c, float* z) { zo::fill_rademacher(s, c, kChunk, z); });
}

void BM_table16(benchmark::State& state) {
  const zo::RandomStream s{1, 2, zo::Stream::value};
  const float* table = table16().data();
  std::vector<std::uint32_t> w(kChunk / 2);
  perturb_with(state, [&](std::int64_t c, float* z) {
    zo::fill_bits(s, c / 2, kChunk / 2, w.data());
#if defined(__AVX2__)
    for (std::int64_t j = 0; j < kChunk / 2; j += 8) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.data() + j));
      _mm256_storeu_ps(z + 2 * j, _mm256_i32gather_ps(table, _mm256_and_si256(v, _mm256_set1_epi32(0xffff)), 4));
      _mm256_storeu_ps(z + 2 * j + 8, _mm256_i32gather_ps(table, _mm256_srli_epi32(v, 16), 4));
    }
#else
    for (std::int64_t j = 0; j < kChunk / 2; ++j) {
      z[2 * j] = table[w[std::size_t(j)] & 0xffff];
      z[2 * j + 1] = table[w[std::size_t(j)] >> 16];
    }
#endif
  });
}

BENCHMARK(BM_copy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_philox_word)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_normal)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_table16)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_rademacher)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
