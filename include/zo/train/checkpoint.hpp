// Training checkpoints: a directory per checkpoint, written atomically, loaded with checks.
//
//   <root>/step-00000120/            one checkpoint (steps completed = 120)
//     params.safetensors            the trainable parameters (all of them in full mode, the adapters
//                                   in LoRA mode) in their stored dtypes, under their ParamSet names
//     optimizer.zosd                 Optimizer::state_dict().serialize() (magic "ZOSD")
//     state.json                     {"format": "zo-checkpoint", "version": 1, "z_stream": the
//                                     z-stream version (random.hpp; absent: 1), "run": RunState,
//                                     "files": {name: {"bytes": n, "crc32": c}}}
//
// Writing: everything goes into <root>/.tmp-step-00000120/, each file is fsync'ed, then the folder is
// fsync'ed and renamed to its final name, and <root> is fsync'ed: a checkpoint folder with a final name
// is always complete. Older checkpoints beyond `keep_last` are removed after the new one is in place;
// a folder to remove (or one a rewrite of the same step replaces) is first renamed to .old-step-…, so
// that a kill in the middle of the removal never leaves a final-named folder with files missing.
// Leftover .tmp- and .old- folders are removed by the next write.
// Loading checks the format, version and z-stream version, each file's size and CRC-32, and every parameter's name,
// shape and dtype against the ParamSet; each defect is a zo::Error naming the file and the tensor or
// field.
#pragma once

#include "zo/core/params.hpp"
#include "zo/optim/optimizer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace zo {

// Where a run is: enough to continue it bit for bit.
struct RunState {
  std::int64_t step = 0;         // steps completed = index of the next step
  std::uint64_t run_seed = 0;    // the run's seed (directions, data order)
  std::int64_t total_steps = 0;  // the run's planned steps (the schedule depends on it)
  std::int64_t epoch = 0;        // data order: the epoch of the next batch …
  std::int64_t position = 0;     // … and its first index in that epoch's permutation
  std::int64_t skipped_steps = 0;
  nlohmann::json extra = nlohmann::json::object();  // anything else the trainer keeps (e.g. the option fingerprint)

  nlohmann::json to_json() const;
  static RunState from_json(const nlohmann::json& json, const std::string& where);  // throws zo::Error naming the field
};

struct CheckpointOptions {
  int keep_last = 2;  // checkpoints kept under the root (>= 1)
  void validate() const;
};

// Writes a checkpoint of `trainable` (every param), `optimizer` and `state` under root; returns its
// folder. Creates root when missing. Throws zo::Error naming the path on an I/O failure (the partial
// temporary folder is removed).
std::filesystem::path write_checkpoint(const std::filesystem::path& root, const ParamSet& trainable,
                                       const StateDict& optimizer, const RunState& state,
                                       const CheckpointOptions& options = {});

// Every checkpoint folder under root (final names only, complete or not), newest first: resume tries
// them in this order and skips one that does not load.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& root);

// The newest checkpoint folder holding all three files, if any (temporary folders are ignored).
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root);

struct LoadedCheckpoint {
  RunState state;
  StateDict optimizer;
};

// Copies the checkpoint's parameters into `trainable` (every param must be present with the same
// shape and dtype, and the file must hold no other tensor) and returns the run state and optimizer
// state. Throws zo::Error naming the file and tensor or field at fault; it checks every file first,
// so that on an error `trainable` is unchanged.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& dir, ParamSet& trainable);

}  // namespace zo
