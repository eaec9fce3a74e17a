#include "zo/train/checkpoint.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/json_depth.hpp"
#include "zo/nn/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <type_traits>
#include <utility>
#include <sstream>

namespace zo {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFormat = "zo-checkpoint";
constexpr int kVersion = 1;
constexpr std::string_view kParams = "params.safetensors";
constexpr std::string_view kOptimizer = "optimizer.zosd";
constexpr std::string_view kState = "state.json";

std::string checkpoint_name(std::int64_t step) { return fmt::format("step-{:08d}", step); }

// Step of a final checkpoint folder name, or -1.
std::int64_t step_of(const std::string& name) {
  if (!name.starts_with("step-") || name.size() < 6) return -1;
  std::int64_t step = 0;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

std::uint32_t crc_of_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the checkpoint file", path.string());
  std::vector<char> buffer(1 << 16);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), uInt(n));
  }
  return std::uint32_t(crc);
}

template <class T>
T field(const nlohmann::json& json, const char* name, const std::string& where) {
  const auto it = json.find(name);
  if (it == json.end()) fail("{}: field '{}': missing", where, name);
  if constexpr (std::is_integral_v<T>) {
    // An integer that T holds: a float or an out-of-range number is refused, not converted.
    if (!it->is_number_integer()) fail("{}: field '{}': must be an integer ({})", where, name, it->dump());
    const bool fits = it->is_number_unsigned()
                          ? it->template get<std::uint64_t>() <= std::uint64_t(std::numeric_limits<T>::max())
                          : std::in_range<T>(it->template get<std::int64_t>());
    if (!fits) fail("{}: field '{}': {} is out of range", where, name, it->dump());
    return it->is_number_unsigned() ? T(it->template get<std::uint64_t>()) : T(it->template get<std::int64_t>());
  } else {
    try {
      return it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      fail("{}: field '{}': wrong type ({})", where, name, it->dump());
    }
  }
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

nlohmann::json RunState::to_json() const {
  return {{"step", step},          {"run_seed", run_seed}, {"total_steps", total_steps}, {"epoch", epoch},
          {"position", position}, {"skipped_steps", skipped_steps}, {"extra", extra}};
}

RunState RunState::from_json(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) fail("{}: the run state must be a JSON object", where);
  RunState s;
  s.step = field<std::int64_t>(json, "step", where);
  s.run_seed = field<std::uint64_t>(json, "run_seed", where);
  s.total_steps = field<std::int64_t>(json, "total_steps", where);
  s.epoch = field<std::int64_t>(json, "epoch", where);
  s.position = field<std::int64_t>(json, "position", where);
  s.skipped_steps = field<std::int64_t>(json, "skipped_steps", where);
  s.extra = json.contains("extra") ? json.at("extra") : nlohmann::json::object();
  if (!s.extra.is_object()) fail("{}: field 'extra': must be a JSON object", where);
  if (s.step < 0 || s.epoch < 0 || s.position < 0) fail("{}: step, epoch and position must be >= 0", where);
  return s;
}

void CheckpointOptions::validate() const {
  if (keep_last < 1) fail("checkpoint option 'keep_last' = {}: must be >= 1", keep_last);
}

namespace {

// A folder that must go: renamed out of the checkpoint names first (one atomic step), then removed, so
// that a kill during the removal leaves a ".old-" folder that nothing reads, never a final-named
// folder with files missing.
void retire(const fs::path& root, const fs::path& dir) {
  const fs::path old = root / (".old-" + dir.filename().string());
  std::error_code ec;
  fs::remove_all(old, ec);
  fs::rename(dir, old);
  fsync_directory(root);
  fs::remove_all(old, ec);
}

}  // namespace

fs::path write_checkpoint(const fs::path& root, const ParamSet& trainable, const StateDict& optimizer,
                          const RunState& state, const CheckpointOptions& options) {
  options.validate();
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) fail("{}: cannot create the checkpoint folder: {}", root.string(), ec.message());
  const std::string name = checkpoint_name(state.step);
  const fs::path tmp = root / (".tmp-" + name);
  const fs::path final_dir = root / name;
  // What an interrupted write or removal left behind.
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string leaf = entry.path().filename().string();
    if (leaf.starts_with(".tmp-step-") || leaf.starts_with(".old-step-")) fs::remove_all(entry.path(), ec);
  }
  try {
    fs::create_directories(tmp);
    std::vector<nn::TensorToWrite> tensors;
    for (const Param& p : trainable.params()) {
      tensors.push_back({.name = p.name, .dtype = p.dtype, .shape = p.shape, .data = p.data});
    }
    nn::write_safetensors(tmp / kParams, tensors, {{"format", std::string(kFormat)}});
    write_file_atomic(tmp / kOptimizer, optimizer.serialize());
    nlohmann::json files = nlohmann::json::object();
    for (std::string_view f : {kParams, kOptimizer}) {
      const fs::path p = tmp / f;
      files[std::string(f)] = {{"bytes", fs::file_size(p)}, {"crc32", crc_of_file(p)}};
    }
    const nlohmann::json meta = {{"format", kFormat},       {"version", kVersion},        {"z_stream", kZStreamVersion},
                                     {"run", state.to_json()}, {"files", files}};
    write_file_atomic(tmp / kState, meta.dump(2) + "\n");
    fsync_directory(tmp);
    if (fs::exists(final_dir)) retire(root, final_dir);
    fs::rename(tmp, final_dir);
    fsync_directory(root);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    fail("{}: cannot write the checkpoint: {}", final_dir.string(), e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  // Keep the newest keep_last. The new checkpoint is in place: a failure here leaves an extra folder.
  const std::vector<fs::path> all = list_checkpoints(root);
  for (std::size_t i = std::size_t(options.keep_last); i < all.size(); ++i) {
    try {
      retire(root, all[i]);
    } catch (const std::exception&) {
    }
  }
  return final_dir;
}

std::vector<fs::path> list_checkpoints(const fs::path& root) {
  std::error_code ec;
  std::vector<std::pair<std::int64_t, fs::path>> found;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::int64_t s = step_of(entry.path().filename().string());
    if (s >= 0 && entry.is_directory(ec)) found.emplace_back(s, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& [step, path] : found) out.push_back(std::move(path));
  return out;
}

std::optional<fs::path> latest_checkpoint(const fs::path& root) {
  std::error_code ec;
  for (const fs::path& dir : list_checkpoints(root)) {
    if (fs::is_regular_file(dir / kState, ec) && fs::is_regular_file(dir / kParams, ec) &&
        fs::is_regular_file(dir / kOptimizer, ec))
      return dir;
  }
  return std::nullopt;
}

LoadedCheckpoint load_checkpoint(const fs::path& dir, ParamSet& trainable) {
  const fs::path state_path = dir / kState;
  const std::string where = state_path.string();
  std::error_code ec;
  if (!fs::is_regular_file(state_path, ec)) fail("{}: missing (the checkpoint is incomplete)", where);
  nlohmann::json meta;
  const std::string text = read_file(state_path, "checkpoint state");
  check_json_depth(text, where);
  try {
    meta = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail("{}: not valid JSON ({})", where, e.what());
  }
  if (!meta.is_object()) fail("{}: must be a JSON object", where);
  if (field<std::string>(meta, "format", where) != kFormat) fail("{}: field 'format': not a zo checkpoint", where);
  const int version = field<int>(meta, "version", where);
  if (version != kVersion) fail("{}: field 'version': {} is not supported (this zo reads version {})", where, version, kVersion);
  // Checkpoints written before the field drew from z-stream version 1.
  check_z_stream_version(meta.contains("z_stream") ? field<int>(meta, "z_stream", where) : 1, where);
  const auto files = field<nlohmann::json>(meta, "files", where);
  for (std::string_view f : {kParams, kOptimizer}) {
    const fs::path p = dir / f;
    if (!files.is_object() || !files.contains(std::string(f))) fail("{}: field 'files': no entry for {}", where, f);
    const auto& info = files.at(std::string(f));
    if (!fs::is_regular_file(p, ec)) fail("{}: missing (the checkpoint is incomplete)", p.string());
    const auto bytes = field<std::uint64_t>(info, "bytes", where);
    const std::uint64_t size = fs::file_size(p, ec);
    if (ec) fail("{}: cannot read its size: {}", p.string(), ec.message());
    if (size != bytes) fail("{}: {} bytes, the checkpoint recorded {}", p.string(), size, bytes);
    if (crc_of_file(p) != field<std::uint32_t>(info, "crc32", where)) fail("{}: CRC-32 mismatch (the file is corrupt)", p.string());
  }
  LoadedCheckpoint out;
  out.state = RunState::from_json(field<nlohmann::json>(meta, "run", where), where + " (run)");
  const fs::path params_path = dir / kParams;
  const nn::SafeTensors file = nn::SafeTensors::open(params_path);
  // Check everything, the optimizer state included, before writing anything.
  for (const Param& p : trainable.params()) {
    const nn::TensorView* t = file.find(p.name);
    if (t == nullptr) fail("{}: tensor '{}': missing (the run trains it)", params_path.string(), p.name);
    if (t->shape != p.shape) {
      fail("{}: tensor '{}': shape {} but the model's is {}", params_path.string(), p.name, shape_text(t->shape), shape_text(p.shape));
    }
    if (t->dtype != p.dtype) {
      fail("{}: tensor '{}': dtype {} but the model's is {}", params_path.string(), p.name, to_string(t->dtype), to_string(p.dtype));
    }
  }
  for (const nn::TensorView& t : file.tensors()) {
    if (trainable.find(t.name) == nullptr) fail("{}: tensor '{}': not a trainable parameter of this run", params_path.string(), t.name);
  }
  out.optimizer = StateDict::deserialize(read_file(dir / kOptimizer, "checkpoint's optimizer state"));
  for (const Param& p : trainable.params()) {
    const nn::TensorView& t = file.at(p.name);
    std::memcpy(p.data, t.data, t.nbytes);
  }
  return out;
}

}  // namespace zo
