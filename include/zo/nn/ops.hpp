// The forward engine's operations, backend-neutral: plain functions over row-major float32
// activations and weights stored as float32, bfloat16 or float16 (llm.c / ggml style). The CPU
// backend (src/nn/ops_cpu.cpp) uses OpenBLAS sgemm for matrix products and OpenMP elsewhere; a CUDA
// backend implements the same signatures and is held to the CPU one.
//
// Dimension names, the same in every function and in model.cpp:
//   B  batch size             T  sequence length (tokens per row)      N = B·T rows
//   C  model width (hidden)   V  vocabulary size                        F  feed-forward width
//   NH query heads            NKV key/value heads (NH for OPT; NH/NKV queries share one kv head)
//   HD head dimension         OC output channels of a matrix product
// Activations are (N, C) row-major, i.e. (B, T, C); heads are laid out (B, T, NH, HD).
#pragma once

#include "zo/core/dtype.hpp"

#include <cstdint>
#include <vector>

namespace zo::nn {

// A read-only weight or bias: `data` holds numel elements of `dtype`.
struct WeightRef {
  const void* data = nullptr;
  DType dtype = DType::f32;
  explicit operator bool() const { return data != nullptr; }
};

namespace ops {

// Reusable memory for conversions of bf16/f16 weights to float32 (grown as needed, never shrunk).
struct Scratch {
  std::vector<float> weight;  // one converted weight matrix
  std::vector<float> vec;     // converted norm weights / biases
  std::vector<float> rows_in, rows_out;  // matmul's zero-padded last row block
};

// Returns `w` as float32: the pointer itself when stored as f32, else a conversion into `into`.
const float* as_f32(WeightRef w, std::int64_t n, std::vector<float>& into);

// out (N, OC) = inp (N, C) · wᵀ + bias, with w (OC, C) as nn.Linear stores it and bias (OC) optional.
// Row-invariant: row i of out depends on row i of inp only, bit for bit, whatever N and the other
// rows — so a sequence scores the same alone, in any batch, in any micro-batch or on any MPI rank
// (docs/distributed.md). Every row is computed inside a whole block of kMatmulRows rows: one sgemm over
// the first ⌊N / kMatmulRows⌋ blocks, one over the last rows zero-padded to a block. A BLAS treats the
// rows of a partial tile differently (OpenBLAS's generic kernels gave the last row of an odd N other
// bits); whole blocks avoid that. Holds on OpenBLAS's Prescott, SkylakeX and Cooperlake kernels. Its
// Haswell kernels (AVX2; also chosen on AMD Zen) give a row other bits by where it sits in the block,
// so there rows agree across batches to float rounding only (matmul_is_row_invariant says which).
inline constexpr std::int64_t kMatmulRows = 32;

// Whether matmul is row-invariant, bit for bit, with this process's BLAS kernels: a probe, run once,
// of rows taken alone, at other places in a block and in calls of other sizes.
bool matmul_is_row_invariant();

void matmul(float* out, const float* inp, WeightRef w, WeightRef bias, std::int64_t N, std::int64_t C,
            std::int64_t OC, Scratch& scratch);

// out (OC) = w (OC, C) · inp (C) + bias (OC, optional): matmul for one row, as a matrix-vector product.
// For one row sgemm packs the whole of w into its blocked layout on every call, which costs more than
// the product; sgemv reads w once. Generation's per-token forward uses it (the batched forward does not).
void matvec(float* out, const float* inp, WeightRef w, WeightRef bias, std::int64_t C, std::int64_t OC,
            Scratch& scratch);

// out (B, T, C) = table[tokens] with table (V, C). Throws zo::Error on a token outside [0, V).
void embedding(float* out, const std::int32_t* tokens, WeightRef table, std::int64_t N, std::int64_t C,
               std::int64_t V);

// out (N, C) += table[positions] with table (P, C); positions (N) already offset into the table.
// Throws zo::Error on a position outside [0, P).
void add_embedding(float* out, const std::int32_t* positions, WeightRef table, std::int64_t N, std::int64_t C,
                   std::int64_t P);

// LayerNorm over the last dimension (torch.nn.LayerNorm): out = (x − mean)/sqrt(var + eps)·weight + bias,
// var the biased variance. out may alias inp.
void layernorm(float* out, const float* inp, WeightRef weight, WeightRef bias, std::int64_t N, std::int64_t C,
               float eps, Scratch& scratch);

// RMSNorm (LLaMA): out = x / sqrt(mean(x²) + eps) · weight. out may alias inp.
void rmsnorm(float* out, const float* inp, WeightRef weight, std::int64_t N, std::int64_t C, float eps,
             Scratch& scratch);

// Rotary position embedding in place (HF LLaMA "rotate_half" layout): for head vector x (HD) at
// position p and i < HD/2, θ_i = p · theta^(−2i/HD):
//   x[i] ← x[i]cos θ_i − x[i+HD/2] sin θ_i,   x[i+HD/2] ← x[i+HD/2] cos θ_i + x[i] sin θ_i.
// x is (N, H, HD); positions (N).
void rope(float* x, const std::int32_t* positions, std::int64_t N, std::int64_t H, std::int64_t HD, float theta);

// Causal self-attention with a key padding mask:
//   out[b,t,h] = Σ_{s ≤ t, mask[b,s]=1} softmax_s(scale · q[b,t,h]·k[b,s,g]) v[b,s,g],  g = h / (NH/NKV).
// q (B, T, NH, HD), k and v (B, T, NKV, HD), mask (B, T) of 0/1 (null = all ones), out (B, T, NH, HD).
// A query with no visible key (a padding position before any real token) attends uniformly to all T
// keys, as HF's eager attention does (its finfo.min mask swamps every score); its output is unused.
void attention(float* out, const float* q, const float* k, const float* v, const std::int32_t* mask,
               std::int64_t B, std::int64_t T, std::int64_t NH, std::int64_t NKV, std::int64_t HD, float scale);

// Causal attention of n new positions of one sequence over the keys and values of every position so
// far (a KV cache): the query at row t is position past + t and attends to the rows s ≤ past + t of
// k and v:
//   out[t,h] = Σ_{s ≤ past+t} softmax_s(scale · q[t,h]·k[s,g]) v[s,g],  g = h / (NH/NKV).
// q (n, NH, HD), k and v (past + n, NKV, HD), out (n, NH, HD). No padding: every key is real. Each
// query row is computed as attention() computes it for an unpadded row, so the two agree to float
// rounding of their inputs.
void attention_cached(float* out, const float* q, const float* k, const float* v, std::int64_t n, std::int64_t past,
                      std::int64_t NH, std::int64_t NKV, std::int64_t HD, float scale);

// Elementwise activations, in place over n elements.
void relu(float* x, std::int64_t n);
// x ← silu(x) · y = x·sigmoid(x)·y (LLaMA's gated MLP: silu(gate) · up).
void silu_mul(float* x, const float* y, std::int64_t n);

// x (n) += y (n).
void add(float* x, const float* y, std::int64_t n);

// Cross-entropy of each row of logits (N, V) against labels (N): out[i] = logsumexp(row) − row[label],
// accumulated in double. Throws zo::Error on a label outside [0, V).
void cross_entropy(double* out, const float* logits, const std::int32_t* labels, std::int64_t N, std::int64_t V);

}  // namespace ops
}  // namespace zo::nn
