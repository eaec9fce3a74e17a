// CPU backend of ops.hpp: OpenBLAS sgemm for matrix products, OpenMP loops elsewhere.
#include "zo/nn/ops.hpp"

#include "zo/nn/op_profile.hpp"

#include "zo/util/error.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace zo::nn::ops {

// Below this many elements of work a loop runs on one thread: a parallel region's wake-up and barrier
// cost more than the loop (and much more on a loaded machine).
constexpr std::int64_t parallel_min = std::int64_t(1) << 15;

const float* as_f32(WeightRef w, std::int64_t n, std::vector<float>& into) {
  if (w.dtype == DType::f32) return static_cast<const float*>(w.data);
  if (into.size() < std::size_t(n)) into.resize(std::size_t(n));
  to_f32(w.dtype, w.data, into.data(), std::size_t(n));
  return into.data();
}

bool matmul_is_row_invariant() {
  static const bool invariant = [] {
    constexpr std::int64_t C = 64, OC = 48, N = 3 * kMatmulRows + 7;
    std::vector<float> in(static_cast<std::size_t>(N * C)), w(static_cast<std::size_t>(OC * C));
    std::uint32_t state = 12345;  // pseudo-random values in [-0.5, 0.5)
    for (auto* v : {&in, &w})
      for (float& x : *v) {
        state = state * 1664525u + 1013904223u;
        x = float(state >> 8) / float(1u << 24) - 0.5f;
      }
    Scratch scratch;
    const WeightRef wr{w.data(), DType::f32};
    std::vector<float> all(static_cast<std::size_t>(N * OC));
    matmul(all.data(), in.data(), wr, {}, N, C, OC, scratch);
    for (const auto& [first, rows] : {std::pair<std::int64_t, std::int64_t>{5, 3}, {kMatmulRows - 2, 40}, {1, N - 1}}) {
      std::vector<float> part(static_cast<std::size_t>(rows * OC));
      matmul(part.data(), in.data() + first * C, wr, {}, rows, C, OC, scratch);
      if (!std::equal(part.begin(), part.end(), all.begin() + std::ptrdiff_t(first * OC))) return false;
    }
    return true;
  }();
  return invariant;
}

void matmul(float* out, const float* inp, WeightRef w, WeightRef bias, std::int64_t N, std::int64_t C,
            std::int64_t OC, Scratch& scratch) {
  const detail::OpTimer timer("matmul", OC);
  // With a bias, out starts as the bias in every row and sgemm accumulates (beta = 1): one pass over
  // out instead of sgemm's zeroing pass plus a bias pass.
  if (bias) {
    const float* bf = as_f32(bias, OC, scratch.vec);
#pragma omp parallel for schedule(static) if (N * OC >= parallel_min)
    for (std::int64_t i = 0; i < N; ++i) std::copy(bf, bf + OC, out + i * OC);
  }
  const float* wf = as_f32(w, OC * C, scratch.weight);
  constexpr std::int64_t R = kMatmulRows;
  const float beta = bias ? 1.0f : 0.0f;
  const std::int64_t full = N / R * R;
  if (full > 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(full), int(OC), int(C), 1.0f, inp, int(C), wf, int(C), beta, out,
                int(OC));
  if (full == N) return;
  // The last rows, padded with zero rows to a whole block.
  const std::int64_t n = N - full;
  scratch.rows_in.assign(std::size_t(R * C), 0.0f);
  std::copy(inp + full * C, inp + N * C, scratch.rows_in.data());
  scratch.rows_out.resize(std::size_t(R * OC));
  std::copy(out + full * OC, out + N * OC, scratch.rows_out.data());  // the bias rows (beta = 1) or ignored (beta = 0)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(R), int(OC), int(C), 1.0f, scratch.rows_in.data(), int(C), wf, int(C),
              beta, scratch.rows_out.data(), int(OC));
  std::copy(scratch.rows_out.data(), scratch.rows_out.data() + n * OC, out + full * OC);
}

void matvec(float* out, const float* inp, WeightRef w, WeightRef bias, std::int64_t C, std::int64_t OC,
            Scratch& scratch) {
  const detail::OpTimer timer("matvec", OC);
  if (bias) {
    const float* bf = as_f32(bias, OC, scratch.vec);
    std::copy(bf, bf + OC, out);
  }
  const float* wf = as_f32(w, OC * C, scratch.weight);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, int(OC), int(C), 1.0f, wf, int(C), inp, 1, bias ? 1.0f : 0.0f, out, 1);
}

namespace {

// Row `r` of a (rows, C) table stored as dtype, converted into dst (C floats), added when `accumulate`.
void load_row(float* dst, WeightRef table, std::int64_t r, std::int64_t C, bool accumulate) {
  if (table.dtype == DType::f32) {
    const float* src = static_cast<const float*>(table.data) + r * C;
    if (accumulate)
      for (std::int64_t j = 0; j < C; ++j) dst[j] += src[j];
    else
      std::copy(src, src + C, dst);
    return;
  }
  const auto* src = static_cast<const std::uint16_t*>(table.data) + r * C;
  for (std::int64_t j = 0; j < C; ++j) {
    const float v = table.dtype == DType::bf16 ? bf16_to_f32(src[j]) : f16_to_f32(src[j]);
    dst[j] = accumulate ? dst[j] + v : v;
  }
}

}  // namespace

void embedding(float* out, const std::int32_t* tokens, WeightRef table, std::int64_t N, std::int64_t C,
               std::int64_t V) {
  const detail::OpTimer timer("embedding");
  for (std::int64_t i = 0; i < N; ++i)
    if (tokens[i] < 0 || tokens[i] >= V) fail("token id {} at position {}: outside the vocabulary [0, {})", tokens[i], i, V);
#pragma omp parallel for schedule(static) if (N * C >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) load_row(out + i * C, table, tokens[i], C, false);
}

void add_embedding(float* out, const std::int32_t* positions, WeightRef table, std::int64_t N, std::int64_t C,
                   std::int64_t P) {
  const detail::OpTimer timer("add_embedding");
  for (std::int64_t i = 0; i < N; ++i)
    if (positions[i] < 0 || positions[i] >= P)
      fail("position {} at row {}: outside the position table [0, {}) (sequence longer than "
           "max_position_embeddings?)",
           positions[i], i, P);
#pragma omp parallel for schedule(static) if (N * C >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) load_row(out + i * C, table, positions[i], C, true);
}

void layernorm(float* out, const float* inp, WeightRef weight, WeightRef bias, std::int64_t N, std::int64_t C,
               float eps, Scratch& scratch) {
  const detail::OpTimer timer("layernorm");
  const float* w = weight ? as_f32(weight, C, scratch.vec) : nullptr;
  std::vector<float> bias_f32;
  const float* b = bias ? as_f32(bias, C, bias_f32) : nullptr;
#pragma omp parallel for schedule(static) if (N * C >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) {
    const float* x = inp + i * C;
    float* y = out + i * C;
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t j = 0; j < C; ++j) sum += x[j];
    const double mean = sum / double(C);
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (std::int64_t j = 0; j < C; ++j) sq += (x[j] - mean) * (x[j] - mean);
    const float m = float(mean);
    const float rstd = float(1.0 / std::sqrt(sq / double(C) + double(eps)));
    for (std::int64_t j = 0; j < C; ++j) {
      float v = (x[j] - m) * rstd;
      if (w) v *= w[j];
      if (b) v += b[j];
      y[j] = v;
    }
  }
}

void rmsnorm(float* out, const float* inp, WeightRef weight, std::int64_t N, std::int64_t C, float eps,
             Scratch& scratch) {
  const detail::OpTimer timer("rmsnorm");
  const float* w = as_f32(weight, C, scratch.vec);
#pragma omp parallel for schedule(static) if (N * C >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) {
    const float* x = inp + i * C;
    float* y = out + i * C;
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (std::int64_t j = 0; j < C; ++j) sq += double(x[j]) * double(x[j]);
    const float rstd = float(1.0 / std::sqrt(sq / double(C) + double(eps)));
#pragma omp simd
    for (std::int64_t j = 0; j < C; ++j) y[j] = w[j] * (x[j] * rstd);
  }
}

void rope(float* x, const std::int32_t* positions, std::int64_t N, std::int64_t H, std::int64_t HD, float theta) {
  const detail::OpTimer timer("rope");
  const std::int64_t half = HD / 2;
  // inv_freq as HF computes it: 1 / theta^(2i/HD), in float32.
  std::vector<float> inv_freq(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i)
    inv_freq[std::size_t(i)] = 1.0f / std::pow(theta, float(2 * i) / float(HD));
#pragma omp parallel for schedule(static) if (N * H * HD >= parallel_min)
  for (std::int64_t n = 0; n < N; ++n) {
    std::vector<float> cos_v(static_cast<std::size_t>(half)), sin_v(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i) {
      const float angle = float(positions[n]) * inv_freq[std::size_t(i)];
      cos_v[std::size_t(i)] = std::cos(angle);
      sin_v[std::size_t(i)] = std::sin(angle);
    }
    for (std::int64_t h = 0; h < H; ++h) {
      float* v = x + (n * H + h) * HD;
      for (std::int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * cos_v[std::size_t(i)] - b * sin_v[std::size_t(i)];
        v[i + half] = b * cos_v[std::size_t(i)] + a * sin_v[std::size_t(i)];
      }
    }
  }
}

namespace {

// One query's scores over keys 0..last: w[s] = scale · (q · k_s), skipping keys masked out (mb[s] = 0,
// when a mask is given). Returns their maximum (−inf when no key is visible).
float attention_scores(float* w, const float* qt, const float* kb, const std::int32_t* mb, std::int64_t last,
                       std::int64_t kv_stride, std::int64_t HD, float scale) {
  float max = -std::numeric_limits<float>::infinity();
  for (std::int64_t s = 0; s <= last; ++s) {
    if (mb && !mb[s]) continue;
    const float* ks = kb + s * kv_stride;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (std::int64_t d = 0; d < HD; ++d) dot += qt[d] * ks[d];
    w[std::size_t(s)] = dot * scale;
    max = std::max(max, w[std::size_t(s)]);
  }
  return max;
}

// o += Σ_s softmax(w)_s · v_s over the visible keys 0..last (w: attention_scores' output and maximum;
// w becomes the unnormalised probabilities).
void attention_combine(float* o, float* w, float max, const float* vb, const std::int32_t* mb, std::int64_t last,
                       std::int64_t kv_stride, std::int64_t HD) {
  float sum = 0.0f;
  for (std::int64_t s = 0; s <= last; ++s) {
    const float e = (!mb || mb[s]) ? std::exp(w[std::size_t(s)] - max) : 0.0f;
    w[std::size_t(s)] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (std::int64_t s = 0; s <= last; ++s) {
    if (w[std::size_t(s)] == 0.0f) continue;
    const float p = w[std::size_t(s)] * inv;
    const float* vs = vb + s * kv_stride;
#pragma omp simd
    for (std::int64_t d = 0; d < HD; ++d) o[d] += p * vs[d];
  }
}

}  // namespace

void attention(float* out, const float* q, const float* k, const float* v, const std::int32_t* mask,
               std::int64_t B, std::int64_t T, std::int64_t NH, std::int64_t NKV, std::int64_t HD, float scale) {
  const detail::OpTimer timer("attention");
  const std::int64_t group = NH / NKV;
  const std::int64_t q_stride = NH * HD, kv_stride = NKV * HD;
  // One parallel region over (b, h) with plain loops: per-head sgemm calls were 3-5× slower here (each
  // small call pays OpenBLAS's thread hand-off, ruinous on a loaded machine), and the causal half of
  // the products is skipped.
#pragma omp parallel if (B * NH * T * T * HD >= parallel_min)
  {
    std::vector<float> w(static_cast<std::size_t>(T));  // one query's scores, then probabilities
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t h = 0; h < NH; ++h) {
        const std::int64_t g = h / group;
        const std::int32_t* mb = mask ? mask + b * T : nullptr;
        const float* kb = k + b * T * kv_stride + g * HD;
        const float* vb = v + b * T * kv_stride + g * HD;
        for (std::int64_t t = 0; t < T; ++t) {
          const float* qt = q + (b * T + t) * q_stride + h * HD;
          float* o = out + (b * T + t) * q_stride + h * HD;
          const float max = attention_scores(w.data(), qt, kb, mb, t, kv_stride, HD, scale);
          std::fill(o, o + HD, 0.0f);
          if (max == -std::numeric_limits<float>::infinity()) {
            // No visible key (padding before the first real token): HF's additive mask puts finfo.min
            // on every key, which swamps the scores, so its softmax is uniform over all T keys.
            for (std::int64_t s = 0; s < T; ++s) {
              const float* vs = vb + s * kv_stride;
              for (std::int64_t d = 0; d < HD; ++d) o[d] += vs[d] / float(T);
            }
            continue;
          }
          attention_combine(o, w.data(), max, vb, mb, t, kv_stride, HD);
        }
      }
    }
  }
}

void attention_cached(float* out, const float* q, const float* k, const float* v, std::int64_t n, std::int64_t past,
                      std::int64_t NH, std::int64_t NKV, std::int64_t HD, float scale) {
  const detail::OpTimer timer("attention_cached");
  const std::int64_t group = NH / NKV;
  const std::int64_t q_stride = NH * HD, kv_stride = NKV * HD;
  const std::int64_t keys = past + n;
  // One new token (n = 1) is NH dot-product sweeps over the cache: worth threads only for long caches.
#pragma omp parallel if (NH * n * keys * HD >= parallel_min)
  {
    std::vector<float> w(static_cast<std::size_t>(keys));
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (std::int64_t h = 0; h < NH; ++h) {
      for (std::int64_t t = 0; t < n; ++t) {
        const std::int64_t g = h / group, last = past + t;
        const float* kb = k + g * HD;
        const float* vb = v + g * HD;
        const float* qt = q + t * q_stride + h * HD;
        float* o = out + t * q_stride + h * HD;
        // attention()'s helpers: the same float operations as on an unpadded row of the full forward.
        const float max = attention_scores(w.data(), qt, kb, nullptr, last, kv_stride, HD, scale);
        std::fill(o, o + HD, 0.0f);
        attention_combine(o, w.data(), max, vb, nullptr, last, kv_stride, HD);
      }
    }
  }
}

void relu(float* x, std::int64_t n) {
  const detail::OpTimer timer("relu");
#pragma omp parallel for simd schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void silu_mul(float* x, const float* y, std::int64_t n) {
  const detail::OpTimer timer("silu_mul");
#pragma omp parallel for schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i])) * y[i];
}

void add(float* x, const float* y, std::int64_t n) {
  const detail::OpTimer timer("add");
#pragma omp parallel for simd schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void cross_entropy(double* out, const float* logits, const std::int32_t* labels, std::int64_t N, std::int64_t V) {
  const detail::OpTimer timer("cross_entropy");
  for (std::int64_t i = 0; i < N; ++i)
    if (labels[i] < 0 || labels[i] >= V) fail("label {} at row {}: outside the vocabulary [0, {})", labels[i], i, V);
#pragma omp parallel for schedule(static) if (N * V >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) {
    const float* row = logits + i * V;
    float max = row[0];
    for (std::int64_t j = 1; j < V; ++j) max = std::max(max, row[j]);
    double sum = 0.0;
    for (std::int64_t j = 0; j < V; ++j) sum += std::exp(double(row[j] - max));
    out[i] = double(max) + std::log(sum) - double(row[labels[i]]);
  }
}

}  // namespace zo::nn::ops
