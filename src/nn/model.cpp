// OPT and LLaMA forward passes over ops.hpp, following HF's modeling_opt.py / modeling_llama.py.
// Parameters live in one owned buffer (64-byte aligned views, llm.c style), in their stored dtype.
#include "zo/nn/model.hpp"

#include "zo/util/files.hpp"
#include "zo/util/error.hpp"
#include "zo/util/json_depth.hpp"
#include "zo/nn/kv_cache.hpp"
#include "zo/nn/ops.hpp"
#include "zo/nn/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

namespace zo::nn {

namespace fs = std::filesystem;

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// One parameter tensor: its HF name, shape and place in the owned buffer.
struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  DType dtype = DType::f32;
  std::size_t offset = 0;  // bytes into the buffer
  std::int64_t numel = 0;
  std::size_t nbytes() const { return std::size_t(numel) * size_of(dtype); }
};

// The tensors an architecture needs, in forward order, with their block.
struct Spec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string block;
};

std::vector<Spec> expected_tensors(const ModelConfig& c) {
  const std::int64_t C = c.hidden_size, V = c.vocab_size, F = c.ffn_dim;
  std::vector<Spec> s;
  if (c.arch == Architecture::opt) {
    const std::string p = "model.decoder.";
    s.push_back({p + "embed_tokens.weight", {V, C}, "embeddings"});
    s.push_back({p + "embed_positions.weight", {c.max_positions + 2, C}, "embeddings"});
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
      const std::string lp = fmt::format("{}layers.{}.", p, l), block = fmt::format("layers.{}", l);
      for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        s.push_back({lp + "self_attn." + proj + ".weight", {C, C}, block});
        if (c.enable_bias) s.push_back({lp + "self_attn." + proj + ".bias", {C}, block});
      }
      s.push_back({lp + "self_attn_layer_norm.weight", {C}, block});
      s.push_back({lp + "self_attn_layer_norm.bias", {C}, block});
      s.push_back({lp + "fc1.weight", {F, C}, block});
      if (c.enable_bias) s.push_back({lp + "fc1.bias", {F}, block});
      s.push_back({lp + "fc2.weight", {C, F}, block});
      if (c.enable_bias) s.push_back({lp + "fc2.bias", {C}, block});
      s.push_back({lp + "final_layer_norm.weight", {C}, block});
      s.push_back({lp + "final_layer_norm.bias", {C}, block});
    }
    if (c.final_layer_norm) {
      s.push_back({p + "final_layer_norm.weight", {C}, "head"});
      s.push_back({p + "final_layer_norm.bias", {C}, "head"});
    }
  } else {
    const std::int64_t NH = c.num_heads, NKV = c.num_kv_heads, HD = c.head_dim;
    s.push_back({"model.embed_tokens.weight", {V, C}, "embeddings"});
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
      const std::string lp = fmt::format("model.layers.{}.", l), block = fmt::format("layers.{}", l);
      s.push_back({lp + "input_layernorm.weight", {C}, block});
      s.push_back({lp + "self_attn.q_proj.weight", {NH * HD, C}, block});
      s.push_back({lp + "self_attn.k_proj.weight", {NKV * HD, C}, block});
      s.push_back({lp + "self_attn.v_proj.weight", {NKV * HD, C}, block});
      s.push_back({lp + "self_attn.o_proj.weight", {C, NH * HD}, block});
      s.push_back({lp + "post_attention_layernorm.weight", {C}, block});
      s.push_back({lp + "mlp.gate_proj.weight", {F, C}, block});
      s.push_back({lp + "mlp.up_proj.weight", {F, C}, block});
      s.push_back({lp + "mlp.down_proj.weight", {C, F}, block});
    }
    s.push_back({"model.norm.weight", {C}, "head"});
  }
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", {V, C}, "head"});
  return s;
}

// Drops the pages of [p, p+n) of a read-only file mapping from this process's resident set once
// they are copied, so that loading does not hold the weights twice (they are re-read from the page
// cache if ever touched again).
void release_pages(const void* p, std::size_t n) {
  const auto page = std::uintptr_t(::sysconf(_SC_PAGESIZE));
  const auto begin = (std::uintptr_t(p) + page - 1) / page * page;
  const auto end = (std::uintptr_t(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

struct AlignedFree {
  void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t(64)); }
};

// Per-layer weights as views (WeightRef), resolved once after load.
struct LayerRefs {
  WeightRef ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b;
  WeightRef fc1_w, fc1_b, fc2_w, fc2_b;      // OPT
  WeightRef gate_w, up_w, down_w;            // LLaMA
};

}  // namespace

struct Model::Impl {
  ModelConfig config;
  fs::path dir;
  std::unique_ptr<std::byte[], AlignedFree> buffer;
  std::size_t buffer_bytes = 0;
  std::vector<Tensor> tensors;
  std::vector<std::string> blocks_of;  // block name per tensor
  std::map<std::string, std::size_t, std::less<>> index;

  WeightRef embed, positions, final_w, final_b, head;
  std::vector<LayerRefs> layers;

  // Activations, grown to the largest batch seen (ops.hpp names).
  ops::Scratch scratch;
  std::vector<float> ln, q, k, v, att, proj, h1, h2;
  std::vector<std::int32_t> pos;

  WeightRef ref(const std::string& name) const {
    auto it = index.find(name);
    if (it == index.end()) return {};
    const Tensor& t = tensors[it->second];
    return WeightRef{buffer.get() + t.offset, t.dtype};
  }
  void resolve_refs();

  void check_batch(const TokenBatch& batch) const;
  void prepare(const TokenBatch& batch);
  void embed_into(const TokenBatch& batch, float* x);
  void run_layer(std::int64_t l, const TokenBatch& batch, float* x);
  void run_layers(std::int64_t first, std::int64_t last, const TokenBatch& batch, float* x) {
    for (std::int64_t l = first; l < last; ++l) run_layer(l, batch, x);
  }
  void run_layer_cached(std::int64_t l, std::int64_t n, KvCache& cache, float* x);
  template <class Product, class Attend>
  void layer_body(std::int64_t l, std::int64_t n, float* x, float* k_out, float* v_out, Product mm, Attend attend);
  void final_norm(float* x, std::int64_t rows);
  void head_all(float* x, std::int64_t N, std::vector<float>& logits);
  std::vector<float> stream;  // the residual stream (N, C) of forward / loss
  LossResult loss_tail(const TokenBatch& batch, const float* x, std::span<const std::int32_t> labels,
                       std::span<const std::int32_t> also);
};

namespace {

template <class T>
void grow(std::vector<T>& v, std::int64_t n) {
  if (v.size() < std::size_t(n)) v.resize(std::size_t(n));
}

}  // namespace

void Model::Impl::resolve_refs() {
  const ModelConfig& c = config;
  layers.assign(std::size_t(c.num_layers), {});
  if (c.arch == Architecture::opt) {
    embed = ref("model.decoder.embed_tokens.weight");
    positions = ref("model.decoder.embed_positions.weight");
    final_w = ref("model.decoder.final_layer_norm.weight");
    final_b = ref("model.decoder.final_layer_norm.bias");
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = fmt::format("model.decoder.layers.{}.", l);
      LayerRefs& r = layers[std::size_t(l)];
      r.ln1_w = ref(p + "self_attn_layer_norm.weight");
      r.ln1_b = ref(p + "self_attn_layer_norm.bias");
      r.q_w = ref(p + "self_attn.q_proj.weight");
      r.q_b = ref(p + "self_attn.q_proj.bias");
      r.k_w = ref(p + "self_attn.k_proj.weight");
      r.k_b = ref(p + "self_attn.k_proj.bias");
      r.v_w = ref(p + "self_attn.v_proj.weight");
      r.v_b = ref(p + "self_attn.v_proj.bias");
      r.o_w = ref(p + "self_attn.out_proj.weight");
      r.o_b = ref(p + "self_attn.out_proj.bias");
      r.ln2_w = ref(p + "final_layer_norm.weight");
      r.ln2_b = ref(p + "final_layer_norm.bias");
      r.fc1_w = ref(p + "fc1.weight");
      r.fc1_b = ref(p + "fc1.bias");
      r.fc2_w = ref(p + "fc2.weight");
      r.fc2_b = ref(p + "fc2.bias");
    }
  } else {
    embed = ref("model.embed_tokens.weight");
    final_w = ref("model.norm.weight");
    for (std::int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = fmt::format("model.layers.{}.", l);
      LayerRefs& r = layers[std::size_t(l)];
      r.ln1_w = ref(p + "input_layernorm.weight");
      r.q_w = ref(p + "self_attn.q_proj.weight");
      r.k_w = ref(p + "self_attn.k_proj.weight");
      r.v_w = ref(p + "self_attn.v_proj.weight");
      r.o_w = ref(p + "self_attn.o_proj.weight");
      r.ln2_w = ref(p + "post_attention_layernorm.weight");
      r.gate_w = ref(p + "mlp.gate_proj.weight");
      r.up_w = ref(p + "mlp.up_proj.weight");
      r.down_w = ref(p + "mlp.down_proj.weight");
    }
  }
  head = c.tie_word_embeddings ? embed : ref("lm_head.weight");
}

void Model::Impl::check_batch(const TokenBatch& batch) const {
  if (batch.B <= 0 || batch.T <= 0) fail("token batch: B = {}, T = {}: both must be > 0", batch.B, batch.T);
  const auto N = std::size_t(batch.B * batch.T);
  if (batch.tokens.size() != N)
    fail("token batch: {} token ids for B × T = {} × {} = {}", batch.tokens.size(), batch.B, batch.T, N);
  if (!batch.mask.empty()) {
    if (batch.mask.size() != N)
      fail("token batch: attention mask of {} entries for B × T = {} × {} = {}", batch.mask.size(), batch.B, batch.T, N);
    for (std::size_t i = 0; i < N; ++i)
      if (batch.mask[i] != 0 && batch.mask[i] != 1)
        fail("token batch: attention mask entry {} = {}: must be 0 or 1", i, batch.mask[i]);
  }
}

// Position ids, and activation buffers sized for the batch.
void Model::Impl::prepare(const TokenBatch& batch) {
  check_batch(batch);
  const ModelConfig& c = config;
  const std::int64_t B = batch.B, T = batch.T, N = B * T;
  grow(pos, N);
  for (std::int64_t b = 0; b < B; ++b) {
    std::int32_t count = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t i = b * T + t;
      if (c.arch == Architecture::opt) {
        // HF: position_ids = cumsum(mask) · mask − 1, looked up at position_ids + 2.
        const std::int32_t m = batch.mask.empty() ? 1 : batch.mask[std::size_t(i)];
        count += m;
        pos[std::size_t(i)] = count * m - 1 + 2;
      } else {
        pos[std::size_t(i)] = std::int32_t(t);  // HF LLaMA forward: position_ids = arange(T)
      }
    }
  }
  if (c.arch == Architecture::llama && T > c.max_positions)
    fail("token batch: T = {} exceeds max_position_embeddings = {}", T, c.max_positions);
  const std::int64_t C = c.hidden_size, QD = c.num_heads * c.head_dim, KD = c.num_kv_heads * c.head_dim;
  grow(ln, N * C);
  grow(q, N * QD);
  grow(k, N * KD);
  grow(v, N * KD);
  grow(att, N * QD);
  grow(proj, N * C);
  grow(h1, N * c.ffn_dim);
  if (c.arch == Architecture::llama) grow(h2, N * c.ffn_dim);
}

void Model::Impl::embed_into(const TokenBatch& batch, float* x) {
  const std::int64_t N = batch.B * batch.T, C = config.hidden_size;
  ops::embedding(x, batch.tokens.data(), embed, N, C, config.vocab_size);
  if (config.arch == Architecture::opt) ops::add_embedding(x, pos.data(), positions, N, C, config.max_positions + 2);
}

// One layer over `n` rows of x (n, C), the same operations for the full forward and the cached one:
// mm(out, in, w, bias, IC, OC) is the matrix product, keys and values go to k_out and v_out (n rows
// each), and attend() turns q into att from them (and, for the cached forward, the cache's rows).
template <class Product, class Attend>
void Model::Impl::layer_body(std::int64_t l, std::int64_t n, float* x, float* k_out, float* v_out, Product mm,
                             Attend attend) {
  const ModelConfig& c = config;
  const LayerRefs& r = layers[std::size_t(l)];
  const std::int64_t C = c.hidden_size, F = c.ffn_dim;
  const std::int64_t NH = c.num_heads, NKV = c.num_kv_heads, HD = c.head_dim;

  if (c.arch == Architecture::opt) {
    // x (n, C) ← x + Attn(LN₁(x)), then x ← x + FC₂(relu(FC₁(LN₂(x)))) (pre-norm; post-norm for 350m-style).
    const float* a_in = x;
    if (c.do_layer_norm_before) {
      ops::layernorm(ln.data(), x, r.ln1_w, r.ln1_b, n, C, c.layer_norm_eps, scratch);
      a_in = ln.data();
    }
    mm(q.data(), a_in, r.q_w, r.q_b, C, C);  // q (B, T, NH, HD)
    mm(k_out, a_in, r.k_w, r.k_b, C, C);     // k (B, T, NH, HD)
    mm(v_out, a_in, r.v_w, r.v_b, C, C);     // v (B, T, NH, HD)
    attend();
    mm(proj.data(), att.data(), r.o_w, r.o_b, C, C);
    ops::add(x, proj.data(), n * C);
    if (!c.do_layer_norm_before) ops::layernorm(x, x, r.ln1_w, r.ln1_b, n, C, c.layer_norm_eps, scratch);

    const float* f_in = x;
    if (c.do_layer_norm_before) {
      ops::layernorm(ln.data(), x, r.ln2_w, r.ln2_b, n, C, c.layer_norm_eps, scratch);
      f_in = ln.data();
    }
    mm(h1.data(), f_in, r.fc1_w, r.fc1_b, C, F);  // h1 (n, F)
    ops::relu(h1.data(), n * F);
    mm(proj.data(), h1.data(), r.fc2_w, r.fc2_b, F, C);
    ops::add(x, proj.data(), n * C);
    if (!c.do_layer_norm_before) ops::layernorm(x, x, r.ln2_w, r.ln2_b, n, C, c.layer_norm_eps, scratch);
    return;
  }

  // LLaMA: x ← x + Attn(RMSNorm₁(x)) with rotary q, k; x ← x + Down(silu(Gate(h)) · Up(h)), h = RMSNorm₂(x).
  const std::int64_t QD = NH * HD, KD = NKV * HD;
  ops::rmsnorm(ln.data(), x, r.ln1_w, n, C, c.rms_norm_eps, scratch);
  mm(q.data(), ln.data(), r.q_w, {}, C, QD);  // q (B, T, NH, HD)
  mm(k_out, ln.data(), r.k_w, {}, C, KD);     // k (B, T, NKV, HD)
  mm(v_out, ln.data(), r.v_w, {}, C, KD);     // v (B, T, NKV, HD)
  ops::rope(q.data(), pos.data(), n, NH, HD, c.rope_theta);
  ops::rope(k_out, pos.data(), n, NKV, HD, c.rope_theta);
  attend();
  mm(proj.data(), att.data(), r.o_w, {}, QD, C);
  ops::add(x, proj.data(), n * C);
  ops::rmsnorm(ln.data(), x, r.ln2_w, n, C, c.rms_norm_eps, scratch);
  mm(h1.data(), ln.data(), r.gate_w, {}, C, F);  // gate (n, F)
  mm(h2.data(), ln.data(), r.up_w, {}, C, F);    // up (n, F)
  ops::silu_mul(h1.data(), h2.data(), n * F);
  mm(proj.data(), h1.data(), r.down_w, {}, F, C);
  ops::add(x, proj.data(), n * C);
}

void Model::Impl::run_layer(std::int64_t l, const TokenBatch& batch, float* x) {
  const ModelConfig& c = config;
  const std::int64_t B = batch.B, T = batch.T, N = B * T;
  const std::int32_t* mask = batch.mask.empty() ? nullptr : batch.mask.data();
  const float scale = 1.0f / std::sqrt(float(c.head_dim));
  layer_body(
      l, N, x, k.data(), v.data(),
      [&](float* out, const float* in, WeightRef w, WeightRef bias, std::int64_t IC, std::int64_t OC) {
        ops::matmul(out, in, w, bias, N, IC, OC, scratch);
      },
      [&] {
        ops::attention(att.data(), q.data(), k.data(), v.data(), mask, B, T, c.num_heads, c.num_kv_heads, c.head_dim,
                       scale);
      });
}

// run_layer for n new unpadded positions of one sequence: their keys and values go straight into the
// cache's next rows, and attention reads every row the cache holds. pos holds their position ids.
void Model::Impl::run_layer_cached(std::int64_t l, std::int64_t n, KvCache& cache, float* x) {
  const ModelConfig& c = config;
  const std::int64_t past = cache.length();
  const float scale = 1.0f / std::sqrt(float(c.head_dim));
  layer_body(
      l, n, x, cache.next_keys(l), cache.next_values(l),
      // One new token: matrix-vector products (ops::matvec), not sgemm on one row.
      [&](float* out, const float* in, WeightRef w, WeightRef bias, std::int64_t IC, std::int64_t OC) {
        if (n == 1)
          ops::matvec(out, in, w, bias, IC, OC, scratch);
        else
          ops::matmul(out, in, w, bias, n, IC, OC, scratch);
      },
      [&] {
        ops::attention_cached(att.data(), q.data(), cache.keys(l), cache.values(l), n, past, c.num_heads,
                              c.num_kv_heads, c.head_dim, scale);
      });
}

void Model::Impl::final_norm(float* x, std::int64_t rows) {
  const std::int64_t C = config.hidden_size;
  if (config.arch == Architecture::opt) {
    if (config.final_layer_norm) ops::layernorm(x, x, final_w, final_b, rows, C, config.layer_norm_eps, scratch);
  } else {
    ops::rmsnorm(x, x, final_w, rows, C, config.rms_norm_eps, scratch);
  }
}

void Model::Impl::head_all(float* x, std::int64_t N, std::vector<float>& logits) {
  final_norm(x, N);
  logits.resize(std::size_t(N * config.vocab_size));
  ops::matmul(logits.data(), x, head, {}, N, config.hidden_size, config.vocab_size, scratch);
}

LossResult Model::Impl::loss_tail(const TokenBatch& batch, const float* x, std::span<const std::int32_t> labels,
                                  std::span<const std::int32_t> also) {
  const std::int64_t B = batch.B, T = batch.T, C = config.hidden_size, V = config.vocab_size;
  if (labels.size() != std::size_t(B * T))
    fail("labels: {} entries for B × T = {} × {} = {}", labels.size(), B, T, B * T);
  for (std::size_t j = 0; j < also.size(); ++j)
    if (also[j] < 0 || also[j] >= V) fail("also[{}] = {}: outside the vocabulary [0, {})", j, also[j], V);
  // Rows whose logits are scored: position t predicts labels[b, t+1].
  std::vector<std::int64_t> rows;
  std::vector<std::int32_t> targets;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t + 1 < T; ++t) {
      const std::int32_t label = labels[std::size_t(b * T + t + 1)];
      if (label == ignore_index) continue;
      if (label < 0 || label >= V) fail("labels[{}, {}] = {}: outside the vocabulary [0, {})", b, t + 1, label, V);
      rows.push_back(b * T + t);
      targets.push_back(label);
    }
  LossResult result;
  result.count = std::int64_t(rows.size());
  result.token_losses.resize(rows.size());
  result.position_losses.resize(rows.size());
  result.also_log_probs.resize(rows.size() * also.size());
  // Final norm and head on the scored rows only, a chunk at a time: memory O(chunk · V), not O(N · V).
  constexpr std::int64_t chunk = 128;
  std::vector<float> hidden, logits;
  std::vector<double> losses;
  for (std::int64_t start = 0; start < result.count; start += chunk) {
    const std::int64_t M = std::min(chunk, result.count - start);
    grow(hidden, M * C);
    grow(logits, M * V);
    losses.resize(std::size_t(M));
    for (std::int64_t i = 0; i < M; ++i)
      std::copy_n(x + rows[std::size_t(start + i)] * C, C, hidden.data() + i * C);
    final_norm(hidden.data(), M);
    ops::matmul(logits.data(), hidden.data(), head, {}, M, C, V, scratch);
    ops::cross_entropy(losses.data(), logits.data(), targets.data() + start, M, V);
    for (std::int64_t i = 0; i < M; ++i) {
      const double loss = losses[std::size_t(i)];
      result.sum += loss;
      result.token_losses[std::size_t(start + i)] = float(loss);
      result.position_losses[std::size_t(start + i)] = loss;
      // log p(a) = logit_a − logsumexp = logit_a − logit_target − loss (loss = logsumexp − logit_target).
      const float* row = logits.data() + i * V;
      const double target_logit = row[targets[std::size_t(start + i)]];
      float* out = result.also_log_probs.data() + std::size_t(start + i) * also.size();
      for (std::size_t j = 0; j < also.size(); ++j) out[j] = float(double(row[also[j]]) - target_logit - loss);
    }
  }
  result.mean = result.count > 0 ? result.sum / double(result.count) : std::numeric_limits<double>::quiet_NaN();
  return result;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->config; }

std::int64_t Model::parameter_count() const {
  std::int64_t n = 0;
  for (const Tensor& t : impl_->tensors) n += t.numel;
  return n;
}

std::size_t Model::parameter_bytes() const {
  std::size_t n = 0;
  for (const Tensor& t : impl_->tensors) n += t.nbytes();
  return n;
}

Model Model::load(const fs::path& dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  if (!fs::is_directory(dir)) fail("{}: model folder not found", dir.string());
  impl->config = ModelConfig::from_file(dir / "config.json");
  const ModelConfig& c = impl->config;

  // Which file holds each tensor: one model.safetensors, or the shards an index maps names to.
  std::map<std::string, SafeTensors> shards;  // by file name
  std::map<std::string, std::string> weight_map;
  fs::path index_file = dir / "model.safetensors.index.json";
  if (fs::exists(dir / "model.safetensors")) {
    shards.emplace("model.safetensors", SafeTensors::open(dir / "model.safetensors"));
  } else if (fs::exists(index_file)) {
    const std::string text = read_file(index_file, "model index");
    check_json_depth(text, index_file.string());
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON: {}", index_file.string(), e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: field 'weight_map' missing or not an object", index_file.string());
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) fail("{}: weight_map entry '{}' must be a file name", index_file.string(), name);
      const auto shard = file.get<std::string>();
      if (shard.find('/') != std::string::npos || shard == ".." || shard.empty())
        fail("{}: weight_map entry '{}' = '{}': must be a file name in the model folder", index_file.string(), name,
             shard);
      weight_map[name] = shard;
      if (!shards.contains(shard)) shards.emplace(shard, SafeTensors::open(dir / shard));
    }
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", dir.string());
  }
  // Where tensor `name` is: (file, view), or nullptr. HF's OPT checkpoints sometimes omit the "model."
  // prefix (base_model_prefix); accept that spelling too, as from_pretrained does.
  auto locate = [&](const std::string& name) -> std::pair<const SafeTensors*, const TensorView*> {
    for (const std::string& candidate : {name, name.rfind("model.", 0) == 0 ? name.substr(6) : std::string()}) {
      if (candidate.empty()) continue;
      if (weight_map.empty()) {
        const SafeTensors& st = shards.begin()->second;
        if (const TensorView* view = st.find(candidate)) return {&st, view};
      } else if (auto it = weight_map.find(candidate); it != weight_map.end()) {
        const SafeTensors& st = shards.at(it->second);
        if (const TensorView* view = st.find(candidate)) return {&st, view};
        fail("{}: tensor '{}' missing (the index {} maps it there)", st.path().string(), candidate,
             index_file.string());
      }
    }
    return {nullptr, nullptr};
  };
  const std::string where = weight_map.empty() ? (dir / "model.safetensors").string() : index_file.string();

  // A config cannot claim more layers than the files hold tensors: checked before the list of expected
  // tensors (several per layer) is built from it.
  std::size_t available = 0;
  for (const auto& [file, st] : shards) available += st.tensors().size();
  if (std::uint64_t(c.num_layers) > available)
    fail("{}: config.json has num_hidden_layers = {} but {} holds {} tensors", dir.string(), c.num_layers, where, available);

  // Check every tensor, lay out the buffer, then copy.
  const std::vector<Spec> specs = expected_tensors(c);
  std::vector<std::pair<const SafeTensors*, const TensorView*>> sources;
  std::size_t total = 0;
  for (const Spec& spec : specs) {
    auto [st, view] = locate(spec.name);
    if (view == nullptr)
      fail("{}: tensor '{}' missing (expected shape {} for {})", where, spec.name, shape_text(spec.shape),
           to_string(c.arch));
    if (view->shape != spec.shape)
      fail("{}: tensor '{}': shape {}, expected {} from config.json", st->path().string(), view->name,
           shape_text(view->shape), shape_text(spec.shape));
    Tensor t{spec.name, spec.shape, view->dtype, total, view->numel()};
    total += (t.nbytes() + 63) / 64 * 64;
    impl->index.emplace(t.name, impl->tensors.size());
    impl->tensors.push_back(std::move(t));
    impl->blocks_of.push_back(spec.block);
    sources.emplace_back(st, view);
  }
  impl->buffer.reset(static_cast<std::byte*>(::operator new[](std::max<std::size_t>(total, 64), std::align_val_t(64))));
  impl->buffer_bytes = total;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const Tensor& t = impl->tensors[i];
    std::memcpy(impl->buffer.get() + t.offset, sources[i].second->data, t.nbytes());
    release_pages(sources[i].second->data, t.nbytes());
  }
  // A tied head may be stored too (older save_pretrained versions did); then it must equal the embeddings.
  if (c.tie_word_embeddings) {
    auto [st, view] = locate("lm_head.weight");
    if (view != nullptr) {
      const Tensor& e = impl->tensors[0];
      if (view->shape != e.shape || view->dtype != e.dtype ||
          std::memcmp(view->data, impl->buffer.get() + e.offset, e.nbytes()) != 0)
        fail("{}: tensor 'lm_head.weight' differs from '{}' but config.json has tie_word_embeddings = true",
             st->path().string(), e.name);
    }
  }
  impl->resolve_refs();
  return Model(std::move(impl));
}

ParamSet Model::params() {
  ParamSet set;
  std::vector<Block> blocks;
  std::map<std::string, std::size_t> block_index;
  for (std::size_t i = 0; i < impl_->tensors.size(); ++i) {
    const Tensor& t = impl_->tensors[i];
    const std::size_t p = set.add(t.name, t.dtype, t.shape, impl_->buffer.get() + t.offset);
    const std::string& block = impl_->blocks_of[i];
    auto [it, inserted] = block_index.emplace(block, blocks.size());
    if (inserted) blocks.push_back(Block{block, {}, 0});
    blocks[it->second].params.push_back(p);
    blocks[it->second].numel += t.numel;
  }
  set.set_blocks(std::move(blocks));
  return set;
}

std::vector<float> Model::forward(const TokenBatch& batch) {
  std::vector<float> logits;
  forward(batch, logits);
  return logits;
}

void Model::forward(const TokenBatch& batch, std::vector<float>& logits) {
  Impl& m = *impl_;
  m.prepare(batch);
  const std::int64_t N = batch.B * batch.T;
  grow(m.stream, N * m.config.hidden_size);
  float* x = m.stream.data();
  m.embed_into(batch, x);
  m.run_layers(0, m.config.num_layers, batch, x);
  m.head_all(x, N, logits);
}

LossResult Model::loss(const TokenBatch& batch, std::span<const std::int32_t> labels, std::span<const std::int32_t> also) {
  Impl& m = *impl_;
  m.prepare(batch);
  grow(m.stream, batch.B * batch.T * m.config.hidden_size);
  float* x = m.stream.data();
  m.embed_into(batch, x);
  m.run_layers(0, m.config.num_layers, batch, x);
  return m.loss_tail(batch, x, labels, also);
}

namespace {
void check_layer(std::int64_t k, std::int64_t L) {
  if (k < 0 || k > L) fail("layer index k = {}: must be in [0, {}] (num_hidden_layers = {})", k, L, L);
}
void check_hidden(std::span<const float> hidden, const TokenBatch& batch, std::int64_t C) {
  if (hidden.size() != std::size_t(batch.B * batch.T * C))
    fail("hidden states: {} values for B × T × C = {} × {} × {}", hidden.size(), batch.B, batch.T, C);
}
}  // namespace

std::vector<float> Model::hidden_states(const TokenBatch& batch, std::int64_t k) {
  Impl& m = *impl_;
  check_layer(k, m.config.num_layers);
  m.prepare(batch);
  std::vector<float> x(std::size_t(batch.B * batch.T * m.config.hidden_size));
  m.embed_into(batch, x.data());
  m.run_layers(0, k, batch, x.data());
  return x;
}

std::vector<float> Model::forward_from(std::int64_t k, const TokenBatch& batch, std::span<const float> hidden) {
  Impl& m = *impl_;
  check_layer(k, m.config.num_layers);
  m.prepare(batch);
  check_hidden(hidden, batch, m.config.hidden_size);
  std::vector<float> x(hidden.begin(), hidden.end());
  m.run_layers(k, m.config.num_layers, batch, x.data());
  std::vector<float> logits;
  m.head_all(x.data(), batch.B * batch.T, logits);
  return logits;
}

LossResult Model::loss_from(std::int64_t k, const TokenBatch& batch, std::span<const float> hidden,
                            std::span<const std::int32_t> labels, std::span<const std::int32_t> also) {
  Impl& m = *impl_;
  check_layer(k, m.config.num_layers);
  m.prepare(batch);
  check_hidden(hidden, batch, m.config.hidden_size);
  std::vector<float> x(hidden.begin(), hidden.end());
  m.run_layers(k, m.config.num_layers, batch, x.data());
  return m.loss_tail(batch, x.data(), labels, also);
}

std::vector<float> Model::logits_at(const TokenBatch& batch, std::int64_t b, std::int64_t t) {
  Impl& m = *impl_;
  m.prepare(batch);
  if (b < 0 || b >= batch.B || t < 0 || t >= batch.T)
    fail("logits_at: position ({}, {}) outside the batch ({} × {})", b, t, batch.B, batch.T);
  const std::int64_t C = m.config.hidden_size;
  std::vector<float> x(std::size_t(batch.B * batch.T * C));
  m.embed_into(batch, x.data());
  m.run_layers(0, m.config.num_layers, batch, x.data());
  std::vector<float> row(x.begin() + (b * batch.T + t) * C, x.begin() + (b * batch.T + t + 1) * C);
  m.final_norm(row.data(), 1);
  std::vector<float> logits(std::size_t(m.config.vocab_size));
  ops::matmul(logits.data(), row.data(), m.head, {}, 1, C, m.config.vocab_size, m.scratch);
  return logits;
}

std::vector<float> Model::forward_cached(KvCache& cache, std::span<const std::int32_t> tokens) {
  Impl& m = *impl_;
  const ModelConfig& c = m.config;
  const auto n = std::int64_t(tokens.size());
  if (n == 0) fail("forward_cached: no tokens: at least one is needed");
  if (cache.layers() != c.num_layers || cache.row_size() != c.num_kv_heads * c.head_dim ||
      cache.capacity() != c.max_positions)
    fail("forward_cached: the KV cache is shaped for {} layers × {} key/value floats × {} positions, the model has "
         "{} × {} × {}",
         cache.layers(), cache.row_size(), cache.capacity(), c.num_layers, c.num_kv_heads * c.head_dim, c.max_positions);
  const std::int64_t past = cache.length();
  if (past + n > c.max_positions)
    fail("forward_cached: {} positions held + {} new = {} exceeds max_position_embeddings = {}", past, n, past + n,
         c.max_positions);
  cache.reserve_more(n);

  // Activation buffers for n rows (prepare() sizes them for a batch; the cached path has no mask).
  const std::int64_t C = c.hidden_size, QD = c.num_heads * c.head_dim;
  grow(m.ln, n * C);
  grow(m.q, n * QD);
  grow(m.att, n * QD);
  grow(m.proj, n * C);
  grow(m.h1, n * c.ffn_dim);
  if (c.arch == Architecture::llama) grow(m.h2, n * c.ffn_dim);
  grow(m.pos, n);
  // Position ids of an unpadded row: OPT's cumsum(mask) − 1 + 2 = p + 2, LLaMA's p.
  for (std::int64_t t = 0; t < n; ++t)
    m.pos[std::size_t(t)] = std::int32_t(past + t + (c.arch == Architecture::opt ? 2 : 0));
  std::vector<float> x(std::size_t(n * C));
  ops::embedding(x.data(), tokens.data(), m.embed, n, C, c.vocab_size);
  if (c.arch == Architecture::opt) ops::add_embedding(x.data(), m.pos.data(), m.positions, n, C, c.max_positions + 2);
  for (std::int64_t l = 0; l < c.num_layers; ++l) m.run_layer_cached(l, n, cache, x.data());
  cache.commit(n);

  float* last = x.data() + (n - 1) * C;
  m.final_norm(last, 1);
  std::vector<float> logits(std::size_t(c.vocab_size));
  ops::matvec(logits.data(), last, m.head, {}, C, c.vocab_size, m.scratch);
  return logits;
}

void Model::save_pretrained(const fs::path& dir) const {
  const Impl& m = *impl_;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create folder: {}", dir.string(), ec.message());
  std::vector<TensorToWrite> out;
  for (const Tensor& t : m.tensors) out.push_back({t.name, t.dtype, t.shape, m.buffer.get() + t.offset});
  write_safetensors(dir / "model.safetensors", out, {{"format", "pt"}});

  // config.json: the loaded file, as is (it already describes these tensors), written atomically.
  write_file_atomic(dir / "config.json", m.config.raw.dump(2) + "\n");
}

}  // namespace zo::nn
