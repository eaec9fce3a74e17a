#include "zo/train/lora.hpp"

#include "zo/util/error.hpp"
#include "zo/util/regex_limits.hpp"
#include "zo/core/random.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

namespace zo {

void LoraOptions::validate() const {
  if (rank < 1) fail("lora option 'rank' = {}: must be >= 1", rank);
  if (!(std::isfinite(alpha) && alpha > 0)) fail("lora option 'alpha' = {}: must be finite and > 0", alpha);
  check_pattern(target, "lora option 'target'");
  try {
    std::regex re(target);
  } catch (const std::regex_error& e) {
    fail("lora option 'target' = '{}': not a valid regex ({})", target, e.what());
  }
}

LoraAdapters::LoraAdapters(const ParamSet& model, LoraOptions options) : model_(model), options_(std::move(options)) {
  options_.validate();
  const std::regex re(options_.target);
  const std::regex layer_re("layers\\.(\\d+)\\.");
  const std::int64_t r = options_.rank;
  std::map<std::string, std::uint32_t> block_index;
  std::vector<Block> blocks;
  for (std::size_t i = 0; i < model.params().size(); ++i) {
    const Param& p = model.params()[i];
    if (p.shape.size() != 2 || !std::regex_search(p.name, re)) continue;
    Target t;
    t.model_param = i;
    t.out = p.shape[0];
    t.in = p.shape[1];
    if (r > std::min(t.out, t.in)) fail("lora option 'rank' = {}: larger than target '{}' ({} × {})", r, p.name, t.out, t.in);
    t.w0.resize(std::size_t(t.out * t.in));
    to_f32(p.dtype, p.data, t.w0.data(), t.w0.size());
    t.a.resize(std::size_t(r * t.in));
    t.b.assign(std::size_t(t.out * r), 0.0f);
    std::smatch m;
    const std::string block_name = std::regex_search(p.name, m, layer_re) ? "layers." + m[1].str() : p.name;
    auto [it, inserted] = block_index.emplace(block_name, std::uint32_t(blocks.size()));
    if (inserted) blocks.push_back(Block{block_name, {}, 0});
    t.block = it->second;
    targets_.push_back(std::move(t));
  }
  if (targets_.empty()) fail("lora option 'target' = '{}': matches no 2-D parameter of the model", options_.target);
  for (Target& t : targets_) {
    const std::string module = model.params()[t.model_param].name.substr(0, model.params()[t.model_param].name.size() - 7);
    const std::string a_name = module + ".lora_A.weight", b_name = module + ".lora_B.weight";
    const std::size_t ia = params_.add(a_name, DType::f32, {r, t.in}, t.a.data());
    const std::size_t ib = params_.add(b_name, DType::f32, {t.out, r}, t.b.data());
    // U(−1/√in, 1/√in): kaiming_uniform_(a = √5) has bound √(6 / ((1 + 5) · fan_in)) = 1/√fan_in.
    fill_uniform({.seed = options_.init_seed, .tensor = tensor_key(a_name), .stream = Stream::value}, 0, r * t.in, t.a.data());
    const float bound = 1.0f / std::sqrt(float(t.in));
    for (float& v : t.a) v = (2.0f * v - 1.0f) * bound;
    blocks[t.block].params.push_back(ia);
    blocks[t.block].params.push_back(ib);
    blocks[t.block].numel += r * t.in + t.out * r;
  }
  params_.set_blocks(std::move(blocks));
}

void LoraAdapters::merge(std::span<const std::uint32_t> blocks) {
  const float scale = float(options_.alpha / double(options_.rank));
  const int r = options_.rank;
  std::vector<float> w;
  for (Target& t : targets_) {
    if (!blocks.empty() && std::find(blocks.begin(), blocks.end(), t.block) == blocks.end()) continue;
    const Param& p = model_.params()[t.model_param];
    float* out = nullptr;
    if (p.dtype == DType::f32) {
      out = static_cast<float*>(p.data);
    } else {
      w.resize(t.w0.size());
      out = w.data();
    }
    std::copy(t.w0.begin(), t.w0.end(), out);
    // W = W₀ + scale · B (out × r) · A (r × in)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(t.out), int(t.in), r, scale, t.b.data(), r, t.a.data(),
                int(t.in), 1.0f, out, int(t.in));
    if (p.dtype != DType::f32) from_f32(p.dtype, out, p.data, t.w0.size());
  }
}

std::int64_t LoraAdapters::bytes() const {
  std::int64_t total = 0;
  for (const Target& t : targets_) total += std::int64_t(4 * (t.w0.size() + t.a.size() + t.b.size()));
  return total;
}

}  // namespace zo
