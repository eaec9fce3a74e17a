// What `zo finetune` trains on a model and how it exports it, shared with `zo replay` so that both
// build the very same trainable ParamSet from the same description.
//
//   full  every model parameter is trainable (the model's own blocks: embeddings, layers.k, head)
//   lora  LoRA adapters on the target weights are the only trainable parameters (lora.hpp)
// The ledger config records the mode, the LoRA options, and the base model's identity (architecture,
// parameter count, CRC-32 of every parameter's bytes), so replay refuses another base model.
#pragma once

#include "zo/nn/model.hpp"
#include "zo/train/lora.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string_view>

namespace zo {

enum class TrainMode { full, lora };
std::string_view to_string(TrainMode);
TrainMode train_mode_from_string(std::string_view);  // "full" | "lora"; throws zo::Error

struct ModelSetupOptions {
  TrainMode mode = TrainMode::full;
  LoraOptions lora{};  // used in lora mode
};

struct ModelSetup {
  TrainMode mode = TrainMode::full;
  ParamSet model_params;                // views of every model parameter
  std::unique_ptr<LoraAdapters> lora;   // lora mode only
  nlohmann::json ledger_config;         // {"mode", "lora"?, "model": {...}}
  ParamSet& trainable() { return lora ? lora->params() : model_params; }
};

// CRC-32 over every parameter's bytes, in ParamSet order.
std::uint32_t params_crc32(const ParamSet& params);

ModelSetup make_model_setup(nn::Model& model, const ModelSetupOptions& options);
// The setup a ledger's config describes; throws zo::Error (prefixed with `where`) when the model is
// not the base the run used.
ModelSetup model_setup_from_ledger(nn::Model& model, const nlohmann::json& config, const std::string& where);

// Writes the fine-tuned model to dir (config.json + model.safetensors, Model::save_pretrained); in
// LoRA mode the adapters are merged into the weights first and also written to
// dir/adapters.safetensors.
void export_weights(nn::Model& model, ModelSetup& setup, const std::filesystem::path& dir);

// Peak resident memory of this process so far, in MiB (getrusage).
double peak_rss_mb();

}  // namespace zo
