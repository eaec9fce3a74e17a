// config.json: ModelConfig::from_file, then Model::load of a folder with that config and the
// opt-tied test model's weights (tests/data/models/opt-tied/model.safetensors): every config the
// parser accepts must load or be refused with a zo::Error, whatever sizes it claims.
#include "fuzz_util.hpp"

#include "zo/nn/model.hpp"
#include "zo/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& dir = zo::fuzz::scratch("config");
  static const bool linked = [&] {
    std::filesystem::create_symlink(std::filesystem::path(ZO_SOURCE_DIR) / "tests/data/models/opt-tied/model.safetensors",
                                    dir / "model.safetensors");
    return true;
  }();
  (void)linked;
  zo::fuzz::put_file(dir / "config.json", zo::fuzz::as_text(data, size));
  try {
    const zo::nn::ModelConfig config = zo::nn::ModelConfig::from_file(dir / "config.json");
    zo::nn::Model model = zo::nn::Model::load(dir);
    zo::fuzz::sink = std::uint64_t(model.parameter_count()) + std::uint64_t(config.num_layers);
  } catch (const zo::Error&) {
  }
  return 0;
}
