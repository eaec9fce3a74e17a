// Fused perturb / update passes: OpenMP over kChunk-element chunks of the moving params, z generated
// per chunk by detail::generate (the same code as Direction::fill). Each chunk's result depends on
// its own elements only, so the thread count never changes a bit.
#include "zo/core/kernels.hpp"

#include "zo/core/backend.hpp"

#include "direction_detail.hpp"
#include "random_batch.hpp"
#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace zo {

static_assert(kChunk == kSparseSpan, "a fused pass's chunk is one sparse span");
static_assert(kChunk % 128 == 0 && kChunk <= 32 * detail::kBatchElements,
              "a chunk's packed signs are the first words of one batch");

namespace {

struct Moving {
  std::size_t param = 0;
  std::int64_t first_chunk = 0;  // global index of the param's first chunk
};

struct Plan {
  std::vector<Moving> params;
  std::int64_t chunks = 0;

  // The param holding global chunk c, and the chunk's first element in it.
  std::pair<const Moving*, std::int64_t> locate(std::int64_t c) const {
    auto it = std::upper_bound(params.begin(), params.end(), c,
                               [](std::int64_t chunk, const Moving& m) { return chunk < m.first_chunk; });
    --it;
    return {&*it, (c - it->first_chunk) * kChunk};
  }
};

Plan make_plan(const ParamSet& params, std::span<const std::uint32_t> blocks) {
  std::vector<bool> seen(params.blocks().size(), false);
  Plan plan;
  for (const std::uint32_t b : blocks) {
    if (b >= params.blocks().size()) {
      fail("block index {}: out of range (the ParamSet has {} blocks)", b, params.blocks().size());
    }
    if (seen[b]) fail("block index {}: listed twice; each moving block must appear once", b);
    seen[b] = true;
    for (const std::size_t i : params.blocks()[b].params) {
      plan.params.push_back(Moving{i, plan.chunks});
      plan.chunks += (params.param(i).numel + kChunk - 1) / kChunk;
    }
  }
  return plan;
}

// Low-rank factors of every moving low-rank param (empty entries for the others), per draw.
std::vector<detail::LowRankFactors> make_factors(const ParamSet& params, const Direction& direction, const Plan& plan,
                                                 const Draw& draw) {
  std::vector<detail::LowRankFactors> factors(plan.params.size());
  for (std::size_t k = 0; k < plan.params.size(); ++k) {
    const Param& p = params.param(plan.params[k].param);
    if (detail::is_low_rank(direction.options(), p)) {
      detail::make_low_rank(direction.options(), p, draw, 0, p.shape[0], factors[k]);
    }
  }
  return factors;
}

// θ += a·z with one rounding where the build has FMA (the same on every thread and chunk).
void add_scaled(float* theta, const float* z, float a, std::int64_t n) {
#ifdef __FMA__
  for (std::int64_t j = 0; j < n; ++j) theta[j] = std::fma(a, z[j], theta[j]);
#else
  for (std::int64_t j = 0; j < n; ++j) theta[j] = theta[j] + a * z[j];
#endif
}

// θ += a·z on one element, rounded as add_scaled rounds it.
inline float add_scaled_one(float theta, float z, float a) {
#ifdef __FMA__
  return std::fma(a, z, theta);
#else
  return theta + a * z;
#endif
}

// Starts loading the first and the last line of each kept run of g coordinates below n, for
// writing. The runs are scattered, so the hardware prefetcher does not see them coming; called
// between drawing the span's positions and its values, the loads overlap the normals' arithmetic.
void prefetch_runs(const float* theta, std::int64_t n, const detail::SparseSpan& kept, std::int64_t g) {
  for (std::int64_t u = 0; u < kept.run_count && kept.runs[u] < n; ++u) {
    __builtin_prefetch(theta + kept.runs[u], 1, 3);
    __builtin_prefetch(theta + std::min(kept.runs[u] + g, n) - 1, 1, 3);
  }
}

// θ[runs[u] + r] += a·value[u·g + r] for the span's kept runs of g coordinates, below n. A run is
// contiguous, so it is one vector update.
void add_runs(float* __restrict theta, std::int64_t n, const detail::SparseSpan& kept, std::int64_t g, float a) {
  const float* __restrict value = kept.value;
  for (std::int64_t u = 0; u < kept.run_count; ++u) {
    const std::int64_t first = kept.runs[u];
    if (first >= n) break;
    const std::int64_t len = std::min(g, n - first);
    float* t = theta + first;
    const float* v = value + u * g;
    for (std::int64_t r = 0; r < len; ++r) t[r] = add_scaled_one(t[r], v[r], a);
  }
}

// θ[i] += a·z[i] for packed Rademacher signs z (bit i % 32 of words[i / 32] set: −1), i < n. a·(±1)
// is exact, so θ + (±a) has the one rounding of fma(a, z, θ): the same bits as add_scaled on the
// expanded signs, without writing z out.
void add_signs(float* theta, const std::uint32_t* words, float a, std::int64_t n) {
  const std::uint32_t a_bits = __builtin_bit_cast(std::uint32_t, a);
  std::int64_t i = 0;
#if defined(__AVX2__)
  const __m256i va = _mm256_set1_epi32(std::int32_t(a_bits));
  const __m256i top = _mm256_set1_epi32(std::int32_t(0x80000000u));
  const __m256i shift0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
  const __m256i eight = _mm256_set1_epi32(8);
  for (; i + 32 <= n; i += 32) {
    const __m256i w = _mm256_set1_epi32(std::int32_t(words[i / 32]));
    __m256i shift = shift0;
    for (int q = 0; q < 4; ++q) {
      const __m256i sign = _mm256_and_si256(_mm256_sllv_epi32(w, shift), top);
      const __m256 signed_a = _mm256_castsi256_ps(_mm256_xor_si256(va, sign));
      float* t = theta + i + 8 * q;
      _mm256_storeu_ps(t, _mm256_add_ps(_mm256_loadu_ps(t), signed_a));
      shift = _mm256_sub_epi32(shift, eight);
    }
  }
#endif
  for (; i < n; ++i) {
    const std::uint32_t sign = ((words[i / 32] >> (i % 32)) & 1u) << 31;
    theta[i] = theta[i] + __builtin_bit_cast(float, a_bits ^ sign);
  }
}

char* element_ptr(const Param& p, std::int64_t begin) {
  return static_cast<char*>(p.data) + std::size_t(begin) * size_of(p.dtype);
}

// Runs body(chunk) over all chunks in parallel; the first exception is rethrown after the loop.
template <class Body>
void for_each_chunk(std::int64_t chunks, Body&& body) {
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel if (chunks >= kParallelMinChunks)
  {
    auto state = body.make_state();
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
      try {
        body(state, c);
      } catch (...) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks, const Draw& draw,
             float alpha) {
  if (params.backend() != nullptr) {
    params.backend()->perturb(params, direction, blocks, draw, alpha);
    return;
  }
  const Plan plan = make_plan(params, blocks);
  const std::vector<detail::LowRankFactors> factors = make_factors(params, direction, plan, draw);
  struct Body {
    const ParamSet& params;
    const Direction& direction;
    const Plan& plan;
    const std::vector<detail::LowRankFactors>& factors;
    const Draw& draw;
    float alpha;
    struct State {
      alignas(64) float z[kChunk];
      alignas(64) float theta[kChunk];
      alignas(64) std::uint32_t words[detail::kBatchElements];
      detail::SparseSpan kept;
    };
    std::unique_ptr<State> make_state() const { return std::make_unique<State>(); }
    void operator()(std::unique_ptr<State>& state, std::int64_t c) const {
      const auto [moving, begin] = plan.locate(c);
      const Param& p = params.param(moving->param);
      const std::int64_t n = std::min(kChunk, p.numel - begin);
      if (direction.options().kind == DirectionKind::sparse) {
        // Only the kept coordinates are read and written (chunks are sparse spans: kChunk == kSparseSpan).
        detail::SparseSpan& kept = state->kept;
        const std::int64_t span = begin / kSparseSpan;
        const std::int64_t g = direction.options().granule;
        detail::sparse_positions(direction.options(), p, draw, span, kept);
        if (p.dtype == DType::f32 && g > 1) prefetch_runs(reinterpret_cast<float*>(element_ptr(p, begin)), n, kept, g);
        detail::sparse_values(direction.options(), p, draw, span, kept);
        // The last span of a param may run past its end: keep the positions below n (a prefix).
        while (kept.count > 0 && kept.index[kept.count - 1] >= n) --kept.count;
        if (p.dtype == DType::f32 && g > 1) {
          add_runs(reinterpret_cast<float*>(element_ptr(p, begin)), n, kept, g, alpha);
        } else if (p.dtype == DType::f32) {
          float* theta = reinterpret_cast<float*>(element_ptr(p, begin));
          for (std::int64_t k = 0; k < kept.count; ++k) {
            const std::int32_t i = kept.index[k];
            theta[i] = add_scaled_one(theta[i], kept.value[k], alpha);
          }
        } else {
          for (std::int64_t k = 0; k < kept.count; ++k) {
            char* at = element_ptr(p, begin + kept.index[k]);
            float theta;
            to_f32(p.dtype, at, &theta, 1);
            theta = add_scaled_one(theta, kept.value[k], alpha);
            from_f32(p.dtype, &theta, at, 1);
          }
        }
        return;
      }
      const auto* f = &factors[std::size_t(moving - plan.params.data())];
      float* z = state->z;
      const float a = alpha;
      // Dense Rademacher: the packed signs are applied straight from their words (a batch of 128
      // words holds 4096 signs, from the chunk's first element on: it starts on a word).
      const bool signs = direction.options().kind == DirectionKind::dense &&
                         direction.options().distribution == Distribution::rademacher && draw.scale == 1.0f;
      const std::uint32_t* words = nullptr;
      if (signs) {
        detail::bits_batch(RandomStream{draw.seed, p.key, Stream::value}, std::uint64_t(begin / 128), state->words);
        words = state->words;  // word begin / 32 onwards: element begin is the batch's first
      } else {
        detail::generate(direction.options(), p, draw, f, begin, n, z);
      }
      float* theta = p.dtype == DType::f32 ? reinterpret_cast<float*>(element_ptr(p, begin)) : state->theta;
      if (p.dtype != DType::f32) to_f32(p.dtype, element_ptr(p, begin), theta, std::size_t(n));
      if (signs) {
        add_signs(theta, words, a, n);
      } else {
        add_scaled(theta, z, a, n);
      }
      if (p.dtype != DType::f32) from_f32(p.dtype, theta, element_ptr(p, begin), std::size_t(n));
    }
  };
  for_each_chunk(plan.chunks, Body{params, direction, plan, factors, draw, alpha});
}

void fused_update(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks,
                  std::span<const Draw> draws, const std::function<void(const UpdateChunk&)>& visit) {
  if (params.backend() != nullptr) {
    fail("fused_update: the params' data is in {} memory; the CPU pass reads host memory only",
         params.backend()->name());
  }
  const Plan plan = make_plan(params, blocks);
  std::vector<std::vector<detail::LowRankFactors>> factors;
  for (const Draw& draw : draws) factors.push_back(make_factors(params, direction, plan, draw));
  struct Body {
    const ParamSet& params;
    const Direction& direction;
    const Plan& plan;
    const std::vector<std::vector<detail::LowRankFactors>>& factors;
    std::span<const Draw> draws;
    const std::function<void(const UpdateChunk&)>& visit;
    struct State {
      std::vector<float> z;
      std::vector<const float*> z_ptrs;
      std::vector<float> theta;
    };
    State make_state() const {
      State s;
      s.z.resize(draws.size() * std::size_t(kChunk));
      for (std::size_t k = 0; k < draws.size(); ++k) s.z_ptrs.push_back(s.z.data() + k * std::size_t(kChunk));
      s.theta.resize(std::size_t(kChunk));
      return s;
    }
    void operator()(State& state, std::int64_t c) const {
      const auto [moving, begin] = plan.locate(c);
      const Param& p = params.param(moving->param);
      const std::int64_t n = std::min(kChunk, p.numel - begin);
      const std::size_t slot = std::size_t(moving - plan.params.data());
      for (std::size_t k = 0; k < draws.size(); ++k) {
        detail::generate(direction.options(), p, draws[k], &factors[k][slot], begin, n,
                         state.z.data() + k * std::size_t(kChunk));
      }
      UpdateChunk chunk;
      chunk.param = moving->param;
      chunk.begin = begin;
      chunk.n = n;
      chunk.z = state.z_ptrs;
      if (p.dtype == DType::f32) {
        chunk.theta = reinterpret_cast<float*>(element_ptr(p, begin));
        visit(chunk);
      } else {
        to_f32(p.dtype, element_ptr(p, begin), state.theta.data(), std::size_t(n));
        chunk.theta = state.theta.data();
        visit(chunk);
        from_f32(p.dtype, state.theta.data(), element_ptr(p, begin), std::size_t(n));
      }
    }
  };
  for_each_chunk(plan.chunks, Body{params, direction, plan, factors, draws, visit});
}

}  // namespace zo
