// CPU backend of ops.hpp: OpenBLAS sgemm for matrix products, OpenMP loops elsewhere.
#include "zo/nn/ops.hpp"

#include "zo/core/error.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

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

void matmul(float* out, const float* inp, WeightRef w, WeightRef bias, std::int64_t N, std::int64_t C,
            std::int64_t OC, Scratch& scratch) {
  const float* wf = as_f32(w, OC * C, scratch.weight);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(N), int(OC), int(C), 1.0f, inp, int(C), wf, int(C), 0.0f,
              out, int(OC));
  if (bias) {
    const float* bf = as_f32(bias, OC, scratch.vec);
#pragma omp parallel for schedule(static) if (N * OC >= parallel_min)
    for (std::int64_t i = 0; i < N; ++i) {
      float* row = out + i * OC;
#pragma omp simd
      for (std::int64_t j = 0; j < OC; ++j) row[j] += bf[j];
    }
  }
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
  for (std::int64_t i = 0; i < N; ++i)
    if (tokens[i] < 0 || tokens[i] >= V) fail("token id {} at position {}: outside the vocabulary [0, {})", tokens[i], i, V);
#pragma omp parallel for schedule(static) if (N * C >= parallel_min)
  for (std::int64_t i = 0; i < N; ++i) load_row(out + i * C, table, tokens[i], C, false);
}

void add_embedding(float* out, const std::int32_t* positions, WeightRef table, std::int64_t N, std::int64_t C,
                   std::int64_t P) {
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

void attention(float* out, const float* q, const float* k, const float* v, const std::int32_t* mask,
               std::int64_t B, std::int64_t T, std::int64_t NH, std::int64_t NKV, std::int64_t HD, float scale) {
  const std::int64_t group = NH / NKV;
  const std::int64_t q_stride = NH * HD, kv_stride = NKV * HD;
  // scores (NH, T, T) for one batch row at a time: memory stays O(NH·T²), not O(B·NH·T²).
  std::vector<float> scores(std::size_t(NH * T * T));
  for (std::int64_t b = 0; b < B; ++b) {
    const float* qb = q + b * T * q_stride;
    const float* kb = k + b * T * kv_stride;
    const float* vb = v + b * T * kv_stride;
    const std::int32_t* mb = mask ? mask + b * T : nullptr;
    // S_h (T, T) = scale · Q_h (T, HD) · K_gᵀ, one sgemm per head (BLAS parallelises each).
    for (std::int64_t h = 0; h < NH; ++h) {
      const std::int64_t g = h / group;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(HD), scale, qb + h * HD,
                  int(q_stride), kb + g * HD, int(kv_stride), 0.0f, scores.data() + h * T * T, int(T));
    }
    // Masked softmax over keys s ≤ t with mask[s] = 1; masked entries become exactly 0.
#pragma omp parallel for collapse(2) schedule(static) if (NH * T * T >= parallel_min)
    for (std::int64_t h = 0; h < NH; ++h) {
      for (std::int64_t t = 0; t < T; ++t) {
        float* row = scores.data() + (h * T + t) * T;
        float max = -std::numeric_limits<float>::infinity();
        for (std::int64_t s = 0; s <= t; ++s)
          if (!mb || mb[s]) max = std::max(max, row[s]);
        if (max == -std::numeric_limits<float>::infinity()) {
          // No visible key (padding before the first real token): HF's additive mask puts finfo.min on
          // every key, which swamps the scores, so its softmax is uniform over all T keys. Same here.
          std::fill(row, row + T, 1.0f / float(T));
          continue;
        }
        float sum = 0.0f;
        for (std::int64_t s = 0; s <= t; ++s) {
          const float e = (!mb || mb[s]) ? std::exp(row[s] - max) : 0.0f;
          row[s] = e;
          sum += e;
        }
        const float inv = 1.0f / sum;
        for (std::int64_t s = 0; s <= t; ++s) row[s] *= inv;
        std::fill(row + t + 1, row + T, 0.0f);
      }
    }
    // O_h (T, HD) = P_h (T, T) · V_g (T, HD).
    for (std::int64_t h = 0; h < NH; ++h) {
      const std::int64_t g = h / group;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(HD), int(T), 1.0f,
                  scores.data() + h * T * T, int(T), vb + g * HD, int(kv_stride), 0.0f,
                  out + b * T * q_stride + h * HD, int(q_stride));
    }
  }
}

void relu(float* x, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void silu_mul(float* x, const float* y, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i])) * y[i];
}

void add(float* x, const float* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= parallel_min)
  for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void cross_entropy(double* out, const float* logits, const std::int32_t* labels, std::int64_t N, std::int64_t V) {
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
