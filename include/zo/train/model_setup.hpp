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
#include <string>
#include <string_view>
#include <vector>

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
// dir/adapters.safetensors. With base_dir set, dir is then made a complete model folder:
// copy_model_files(base_dir, tokenizer, dir).
void export_weights(nn::Model& model, ModelSetup& setup, const std::filesystem::path& dir,
                    const std::filesystem::path& base_dir = {}, const std::filesystem::path& tokenizer = {});

// Copies into dir, each atomically (temporary name in dir, fsync, rename), the tokenizer and generation
// files the base model's folder holds (model_files_copied; a missing one is skipped). `tokenizer` is the
// tokenizer.json the run used (empty: base_dir/tokenizer.json); it is written as dir/tokenizer.json.
// When it is not byte-identical to base_dir/tokenizer.json, the base folder's vocabulary files
// (vocab.json, merges.txt, tokenizer.model, added_tokens.json) describe another tokenizer and are not
// copied. Throws zo::Error naming the file that cannot be read or written.
void copy_model_files(const std::filesystem::path& base_dir, const std::filesystem::path& tokenizer,
                      const std::filesystem::path& dir);

// The file names copy_model_files looks for in the base model's folder.
const std::vector<std::string>& model_files_copied();

}  // namespace zo
