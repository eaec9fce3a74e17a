#include "zo/train/model_setup.hpp"

#include "zo/util/files.hpp"
#include "zo/util/error.hpp"
#include "zo/nn/safetensors.hpp"

#include <sys/resource.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace zo {

std::string_view to_string(TrainMode mode) { return mode == TrainMode::full ? "full" : "lora"; }

TrainMode train_mode_from_string(std::string_view name) {
  if (name == "full") return TrainMode::full;
  if (name == "lora") return TrainMode::lora;
  fail("unknown mode '{}': valid modes are full, lora", name);
}

std::uint32_t params_crc32(const ParamSet& params) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const Param& p : params.params()) {
    const auto* bytes = static_cast<const Bytef*>(p.data);
    std::size_t n = std::size_t(p.numel) * size_of(p.dtype);
    while (n > 0) {
      const uInt chunk = uInt(std::min<std::size_t>(n, 1u << 30));
      crc = crc32(crc, bytes, chunk);
      bytes += chunk;
      n -= chunk;
    }
  }
  return std::uint32_t(crc);
}

namespace {

nlohmann::json model_identity(nn::Model& model, const ParamSet& params) {
  return {{"architecture", nn::to_string(model.config().arch)},
          {"parameters", model.parameter_count()},
          {"base_crc32", params_crc32(params)}};
}

}  // namespace

ModelSetup make_model_setup(nn::Model& model, const ModelSetupOptions& options) {
  ModelSetup s;
  s.mode = options.mode;
  s.model_params = model.params();
  s.ledger_config = {{"mode", to_string(options.mode)}, {"model", model_identity(model, s.model_params)}};
  if (options.mode == TrainMode::lora) {
    s.lora = std::make_unique<LoraAdapters>(s.model_params, options.lora);
    s.ledger_config["lora"] = {{"rank", options.lora.rank},
                               {"alpha", options.lora.alpha},
                               {"target", options.lora.target},
                               {"init_seed", options.lora.init_seed}};
  }
  return s;
}

ModelSetup model_setup_from_ledger(nn::Model& model, const nlohmann::json& config, const std::string& where) {
  try {
    ModelSetupOptions o;
    o.mode = train_mode_from_string(config.at("mode").get<std::string>());
    if (o.mode == TrainMode::lora) {
      const auto& l = config.at("lora");
      const nlohmann::json& rank = l.at("rank");
      if (!rank.is_number_integer() || rank.get<std::int64_t>() < 1 || rank.get<std::int64_t>() > 1 << 20)
        fail("{}: the ledger's config: lora.rank = {}: must be an integer in [1, 2^20]", where, rank.dump());
      const nlohmann::json& init_seed = l.at("init_seed");
      if (!init_seed.is_number_integer() || (!init_seed.is_number_unsigned() && init_seed.get<std::int64_t>() < 0))
        fail("{}: the ledger's config: lora.init_seed = {}: must be an integer >= 0", where, l.at("init_seed").dump());
      o.lora = {.rank = int(rank.get<std::int64_t>()),
                .alpha = l.at("alpha").get<double>(),
                .target = l.at("target").get<std::string>(),
                .init_seed = l.at("init_seed").get<std::uint64_t>()};
    }
    const ParamSet params = model.params();
    const nlohmann::json identity = model_identity(model, params);
    if (identity != config.at("model")) {
      fail("{}: the model is not the base this ledger was trained from\n  ledger: {}\n  model:  {}", where,
           config.at("model").dump(), identity.dump());
    }
    return make_model_setup(model, o);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the ledger's config lacks the model setup ({})", where, e.what());
  }
}

namespace {

namespace fs = std::filesystem;

// Files that define a tokenizer's vocabulary besides tokenizer.json (the slow tokenizers' inputs).
bool is_vocabulary_file(const std::string& name) {
  return name == "vocab.json" || name == "merges.txt" || name == "tokenizer.model" || name == "added_tokens.json";
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) fail("{}: cannot read: {}", path.string(), std::strerror(errno));
  return bytes;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

}  // namespace

const std::vector<std::string>& model_files_copied() {
  static const std::vector<std::string> names = {
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
      "chat_template.jinja", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json"};
  return names;
}

void copy_model_files(const fs::path& base_dir, const fs::path& tokenizer, const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("{}: cannot create folder: {}", dir.string(), ec.message());
  const fs::path base_tokenizer = base_dir.empty() ? fs::path() : base_dir / "tokenizer.json";
  const fs::path run_tokenizer = tokenizer.empty() ? base_tokenizer : tokenizer;
  bool same_vocabulary = true;
  if (!run_tokenizer.empty() && (!tokenizer.empty() || fs::is_regular_file(run_tokenizer))) {
    const std::string bytes = read_bytes(run_tokenizer);
    if (!tokenizer.empty() && !base_dir.empty() && !same_file(tokenizer, base_tokenizer)) {
      same_vocabulary = fs::is_regular_file(base_tokenizer) && read_bytes(base_tokenizer) == bytes;
    }
    if (!same_file(run_tokenizer, dir / "tokenizer.json")) write_file_atomic(dir / "tokenizer.json", bytes);
  }
  if (base_dir.empty()) return;
  for (const std::string& name : model_files_copied()) {
    if (name == "tokenizer.json" || (!same_vocabulary && is_vocabulary_file(name))) continue;
    const fs::path from = base_dir / name;
    if (!fs::is_regular_file(from) || same_file(from, dir / name)) continue;
    write_file_atomic(dir / name, read_bytes(from));
  }
}

void export_weights(nn::Model& model, ModelSetup& setup, const std::filesystem::path& dir,
                    const std::filesystem::path& base_dir, const std::filesystem::path& tokenizer) {
  std::filesystem::create_directories(dir);
  if (setup.lora) {
    setup.lora->merge();
    std::vector<nn::TensorToWrite> tensors;
    for (const Param& p : setup.lora->params().params()) {
      tensors.push_back({.name = p.name, .dtype = p.dtype, .shape = p.shape, .data = p.data});
    }
    nn::write_safetensors(dir / "adapters.safetensors", tensors,
                          {{"lora_rank", std::to_string(setup.lora->options().rank)},
                           {"lora_alpha", fmt::format("{}", setup.lora->options().alpha)}});
  }
  model.save_pretrained(dir);
  if (!base_dir.empty() || !tokenizer.empty()) copy_model_files(base_dir, tokenizer, dir);
}

}  // namespace zo
