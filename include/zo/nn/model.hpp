// Causal language models in Hugging Face format (config.json + model.safetensors or a sharded
// model.safetensors.index.json), run on the CPU in float32 with weights kept in their stored dtype
// (f32, bf16 or f16). Two architectures, each following HF transformers' modeling code:
//   OPTForCausalLM   (modeling_opt.py):   learned positions (offset 2, counted from the attention
//                    mask), LayerNorm before (or after) attention/FFN, ReLU FFN, biases, tied head.
//   LlamaForCausalLM (modeling_llama.py): RMSNorm, rotary positions 0…T−1, grouped-query attention,
//                    SiLU-gated MLP, no biases, head tied or not.
//
// Parameters are copied once at load into memory the Model owns, so that they are writable: a ZO
// step perturbs them in place through params(). Memory ≈ the weights' bytes once, plus activations.
//
// Dimension names as in ops.hpp: B batch, T tokens per row, C width, V vocabulary, L layers.
// A Model runs one forward at a time (it reuses its activation buffers); it is not thread-safe.
#pragma once

#include "zo/core/dtype.hpp"
#include "zo/core/params.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace zo::nn {

enum class Architecture { opt, llama };
std::string_view to_string(Architecture arch);  // "opt", "llama"

// The fields of config.json that the forward pass uses (HF names in comments). Unsupported settings
// (OPT word_embed_proj_dim ≠ hidden_size, LLaMA rope_scaling, biases in LLaMA, other activations)
// are rejected by from_json with a zo::Error naming the file and field.
struct ModelConfig {
  Architecture arch = Architecture::opt;
  std::int64_t vocab_size = 0;           // V   vocab_size
  std::int64_t hidden_size = 0;          // C   hidden_size
  std::int64_t num_layers = 0;           // L   num_hidden_layers
  std::int64_t num_heads = 0;            // NH  num_attention_heads
  std::int64_t num_kv_heads = 0;         // NKV num_key_value_heads (LLaMA; default NH); NH for OPT
  std::int64_t head_dim = 0;             // HD  head_dim (LLaMA; default C/NH); C/NH for OPT
  std::int64_t ffn_dim = 0;              // F   ffn_dim (OPT) / intermediate_size (LLaMA)
  std::int64_t max_positions = 0;        //     max_position_embeddings
  bool tie_word_embeddings = true;       //     tie_word_embeddings (default: OPT true, LLaMA false)
  // OPT
  bool do_layer_norm_before = true;      //     do_layer_norm_before
  bool final_layer_norm = true;          //     do_layer_norm_before && !_remove_final_layer_norm
  bool enable_bias = true;               //     enable_bias
  float layer_norm_eps = 1e-5f;          //     torch.nn.LayerNorm's default (OPT has no field)
  // LLaMA
  float rms_norm_eps = 1e-6f;            //     rms_norm_eps
  float rope_theta = 10000.0f;           //     rope_theta
  // Token ids, when the file gives them.
  std::optional<std::int32_t> bos_token_id, eos_token_id, pad_token_id;
  nlohmann::json raw;                    // the whole file, kept for save_pretrained

  static ModelConfig from_json(const nlohmann::json& json, const std::filesystem::path& file);
  static ModelConfig from_file(const std::filesystem::path& config_json);
};

// Token ids and attention mask, row-major (B, T). mask: 1 = real token, 0 = padding; empty = all ones.
struct TokenBatch {
  std::int64_t B = 0, T = 0;
  std::span<const std::int32_t> tokens;
  std::span<const std::int32_t> mask;
};

// Labels as HF's `labels` argument: (B, T); the logits at position t predict labels[b, t+1]; label
// −100 (ignore_index) is skipped. loss = mean cross-entropy over the counted positions, in double.
inline constexpr std::int32_t ignore_index = -100;

struct LossResult {
  double mean = 0.0;                  // sum / count (NaN when count = 0)
  double sum = 0.0;                   // summed token cross-entropy (nats)
  std::int64_t count = 0;             // positions counted
  std::vector<float> token_losses;    // per counted position, in (b, t) order
  std::vector<double> position_losses;  // the same in double: what `sum` adds up, in that order
  // log p(also[j]) at each counted position, row-major (count × also.size()), when the caller passed
  // `also` token ids: the other candidates' scores at a position whose label is one candidate, so that
  // single-token candidates sharing a prompt cost one sequence, not one each.
  std::vector<float> also_log_probs;
};

class KvCache;  // kv_cache.hpp

class Model {
 public:
  // Loads dir/config.json and dir/model.safetensors (or dir/model.safetensors.index.json and its
  // shards). Every expected tensor is checked: missing, wrong shape or (for a tied head) an
  // lm_head.weight that differs from the embeddings is a zo::Error naming the file and tensor.
  // Tensors the architecture does not use are ignored (as HF does, e.g. rotary inv_freq buffers).
  static Model load(const std::filesystem::path& dir);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const;
  std::int64_t parameter_count() const;
  std::size_t parameter_bytes() const;  // bytes the weights occupy (stored dtype), counted once

  // Writable views of every parameter under its HF name, in forward order (a tied head appears once, as
  // the embedding). Blocks: "embeddings" (token and position embeddings), "layers.0" … "layers.L-1",
  // "head" (final norm, and lm_head.weight when untied): the default block-coordinate partition.
  ParamSet params();

  // Logits (B, T, V) of the whole batch. Rows at padding positions are computed but meaningless.
  std::vector<float> forward(const TokenBatch& batch);
  // The same into `logits` (resized to B·T·V): a caller that passes the same vector every call skips
  // the allocation, page faults and zero-fill of a fresh (B·T, V) buffer.
  void forward(const TokenBatch& batch, std::vector<float>& logits);
  // `also`: token ids whose log-probabilities at every counted position go to LossResult::also_log_probs.
  LossResult loss(const TokenBatch& batch, std::span<const std::int32_t> labels, std::span<const std::int32_t> also = {});

  // Shared-prefix evaluation for block-coordinate ZO (docs/methods.md §8): hidden_states(batch, k) is the
  // residual stream (B, T, C) entering layer k (k = 0: the embeddings; k = L: the last layer's output,
  // before the final norm); forward_from / loss_from resume from it at layer k. forward_from(k, batch,
  // hidden_states(batch, k)) equals forward(batch) bit for bit.
  std::vector<float> hidden_states(const TokenBatch& batch, std::int64_t k);
  std::vector<float> forward_from(std::int64_t k, const TokenBatch& batch, std::span<const float> hidden);
  LossResult loss_from(std::int64_t k, const TokenBatch& batch, std::span<const float> hidden,
                       std::span<const std::int32_t> labels, std::span<const std::int32_t> also = {});

  // Logits (V) at one position (b, t) only: for generation, without the other rows' head products.
  std::vector<float> logits_at(const TokenBatch& batch, std::int64_t b, std::int64_t t);

  // Incremental forward for generation: runs `tokens` (n ≥ 1, one unpadded sequence) as positions
  // cache.length() … cache.length() + n − 1, attending to the keys and values `cache` holds and
  // appending theirs; returns the logits (V) of the last of them. forward_cached(empty cache, prompt)
  // then forward_cached(cache, {next}) per new token gives the logits forward() gives at the last
  // position of the whole sequence, to float rounding (the products run on fewer rows). Throws
  // zo::Error when the sequence would exceed max_position_embeddings or the cache belongs to a model
  // of another shape.
  std::vector<float> forward_cached(KvCache& cache, std::span<const std::int32_t> tokens);

  // Writes dir/config.json and dir/model.safetensors (HF names, stored dtypes; a tied head is left out
  // as save_pretrained does) so that transformers' from_pretrained and Model::load read them back.
  void save_pretrained(const std::filesystem::path& dir) const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zo::nn
