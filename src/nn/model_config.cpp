// config.json → ModelConfig, with HF's defaults (configuration_opt.py, configuration_llama.py) for
// absent fields and an error naming the file and field for everything zo cannot run.
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"
#include "zo/nn/model.hpp"

#include <fstream>
#include <limits>
#include <utility>

namespace zo::nn {

std::string_view to_string(Architecture arch) {
  switch (arch) {
    case Architecture::opt: return "opt";
    case Architecture::llama: return "llama";
  }
  return "?";
}

namespace {

using nlohmann::json;

// The largest size a config may give (Hugging Face's configs hold 32-bit sizes): a larger claim is
// refused before any buffer, list or index product is sized from it.
constexpr std::int64_t kMaxSize = std::numeric_limits<std::int32_t>::max();

struct Reader {
  const json& j;
  std::string file;

  bool has(const char* field) const { return j.contains(field) && !j.at(field).is_null(); }

  std::int64_t positive(const char* field) const {
    if (!has(field)) fail("{}: field '{}' missing", file, field);
    const json& v = j.at(field);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0 || v.get<std::int64_t>() > kMaxSize)
      fail("{}: field '{}' = {}: must be a positive integer up to {}", file, field, v.dump(), kMaxSize);
    return v.get<std::int64_t>();
  }
  std::int64_t positive_or(const char* field, std::int64_t fallback) const {
    return has(field) ? positive(field) : fallback;
  }
  bool boolean_or(const char* field, bool fallback) const {
    if (!has(field)) return fallback;
    const json& v = j.at(field);
    if (!v.is_boolean()) fail("{}: field '{}' = {}: must be true or false", file, field, v.dump());
    return v.get<bool>();
  }
  float positive_float_or(const char* field, float fallback) const {
    if (!has(field)) return fallback;
    const json& v = j.at(field);
    if (!v.is_number() || !(v.get<double>() > 0.0))
      fail("{}: field '{}' = {}: must be a positive number", file, field, v.dump());
    return float(v.get<double>());
  }
  std::string string_or(const char* field, const std::string& fallback) const {
    if (!has(field)) return fallback;
    const json& v = j.at(field);
    if (!v.is_string()) fail("{}: field '{}' = {}: must be a string", file, field, v.dump());
    return v.get<std::string>();
  }
  // Token ids may be an integer or (in some configs) a list; zo uses the first.
  std::optional<std::int32_t> token_id(const char* field) const {
    if (!has(field)) return std::nullopt;
    const json& v = j.at(field);
    const json& id = v.is_array() && !v.empty() ? v.front() : v;
    if (id.is_number_integer() && !(id.is_number_unsigned() && id.get<std::uint64_t>() > std::uint64_t(kMaxSize)) &&
        std::in_range<std::int32_t>(id.get<std::int64_t>()))
      return std::int32_t(id.get<std::int64_t>());
    fail("{}: field '{}' = {}: must be an integer token id (32-bit)", file, field, v.dump());
  }
};

Architecture architecture_of(const Reader& r) {
  if (r.has("architectures")) {
    const json& a = r.j.at("architectures");
    if (a.is_array() && !a.empty() && a.front().is_string()) {
      const auto name = a.front().get<std::string>();
      if (name == "OPTForCausalLM") return Architecture::opt;
      if (name == "LlamaForCausalLM") return Architecture::llama;
      fail("{}: field 'architectures' = {}: unsupported (zo runs OPTForCausalLM and LlamaForCausalLM)", r.file,
           a.dump());
    }
  }
  const std::string type = r.string_or("model_type", "");
  if (type == "opt") return Architecture::opt;
  if (type == "llama") return Architecture::llama;
  if (type.empty()) fail("{}: fields 'architectures' and 'model_type' missing: cannot tell the architecture", r.file);
  fail("{}: field 'model_type' = '{}': unsupported (zo runs 'opt' and 'llama')", r.file, type);
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::filesystem::path& path) {
  const std::string file = path.string();
  if (!j.is_object()) fail("{}: must hold a JSON object", file);
  Reader r{j, file};
  ModelConfig c;
  c.raw = j;
  c.arch = architecture_of(r);
  c.vocab_size = r.positive("vocab_size");
  c.hidden_size = r.positive("hidden_size");
  c.num_layers = r.positive("num_hidden_layers");
  c.num_heads = r.positive("num_attention_heads");
  c.max_positions = r.positive("max_position_embeddings");
  c.bos_token_id = r.token_id("bos_token_id");
  c.eos_token_id = r.token_id("eos_token_id");
  c.pad_token_id = r.token_id("pad_token_id");

  if (c.arch == Architecture::opt) {
    c.ffn_dim = r.positive("ffn_dim");
    if (c.hidden_size % c.num_heads != 0)
      fail("{}: field 'hidden_size' = {}: must be divisible by num_attention_heads = {}", file, c.hidden_size,
           c.num_heads);
    c.num_kv_heads = c.num_heads;
    c.head_dim = c.hidden_size / c.num_heads;
    const std::int64_t proj = r.positive_or("word_embed_proj_dim", c.hidden_size);
    if (proj != c.hidden_size)
      fail("{}: field 'word_embed_proj_dim' = {}: zo supports only word_embed_proj_dim = hidden_size = {} "
           "(no project_in/project_out, as in OPT-350m)",
           file, proj, c.hidden_size);
    const std::string act = r.string_or("activation_function", "relu");
    if (act != "relu") fail("{}: field 'activation_function' = '{}': zo supports only 'relu'", file, act);
    if (!r.boolean_or("layer_norm_elementwise_affine", true))
      fail("{}: field 'layer_norm_elementwise_affine' = false: zo supports only affine layer norms", file);
    c.do_layer_norm_before = r.boolean_or("do_layer_norm_before", true);
    c.final_layer_norm = c.do_layer_norm_before && !r.boolean_or("_remove_final_layer_norm", false);
    c.enable_bias = r.boolean_or("enable_bias", true);
    c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", true);
  } else {
    c.ffn_dim = r.positive("intermediate_size");
    c.num_kv_heads = r.positive_or("num_key_value_heads", c.num_heads);
    if (c.num_heads % c.num_kv_heads != 0)
      fail("{}: field 'num_key_value_heads' = {}: must divide num_attention_heads = {}", file, c.num_kv_heads,
           c.num_heads);
    if (!r.has("head_dim") && c.hidden_size % c.num_heads != 0)
      fail("{}: field 'hidden_size' = {}: must be divisible by num_attention_heads = {} when head_dim is absent",
           file, c.hidden_size, c.num_heads);
    c.head_dim = r.positive_or("head_dim", c.hidden_size / c.num_heads);
    if (c.head_dim % 2 != 0) fail("{}: field 'head_dim' = {}: must be even for rotary embeddings", file, c.head_dim);
    c.rms_norm_eps = r.positive_float_or("rms_norm_eps", 1e-6f);
    c.rope_theta = r.positive_float_or("rope_theta", 10000.0f);
    if (r.has("rope_scaling"))
      fail("{}: field 'rope_scaling' = {}: zo supports only null (plain rotary embeddings)", file,
           j.at("rope_scaling").dump());
    const std::string act = r.string_or("hidden_act", "silu");
    if (act != "silu") fail("{}: field 'hidden_act' = '{}': zo supports only 'silu'", file, act);
    if (r.boolean_or("attention_bias", false))
      fail("{}: field 'attention_bias' = true: zo supports only LLaMA attention without biases", file);
    if (r.boolean_or("mlp_bias", false))
      fail("{}: field 'mlp_bias' = true: zo supports only LLaMA MLPs without biases", file);
    c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", false);
    c.enable_bias = false;
  }
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& config_json) {
  const std::string text = read_file(config_json, "model config");
  check_json_depth(text, config_json.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", config_json.string(), e.what());
  }
  return from_json(j, config_json);
}

}  // namespace zo::nn
