// Checkpoint state: a checkpoint folder read by load_checkpoint (state.json, params.safetensors,
// optimizer.zosd) and the optimizer state loaded as resume loads it (StateDict::deserialize, then
// Optimizer::load_state_dict of the kind the state names), plus the run-state checks resume makes.
// Byte 0 picks what the rest of the input is:
//   0  optimizer.zosd bytes, deserialized directly
//   1  state.json, beside valid params.safetensors and optimizer.zosd
//   2  params.safetensors, with a state.json that records its true size and CRC-32
//   3  optimizer.zosd, with a state.json that records its true size and CRC-32
// ZO_FUZZ_WRITE_SEEDS=DIR writes one valid input per mode into DIR and exits (fuzz/corpus/checkpoint).
#include "fuzz_util.hpp"

#include "zo/core/params.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/train/checkpoint.hpp"
#include "zo/util/error.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace {

namespace fs = std::filesystem;

// The run's trainable parameters: three small tensors in the three storage types, one block each.
struct Params {
  std::vector<float> w = std::vector<float>(12, 0.5f);
  std::vector<std::uint16_t> b = std::vector<std::uint16_t>(4, 0x3f80);  // bf16 1.0
  std::vector<std::uint16_t> h = std::vector<std::uint16_t>(6, 0x3c00);  // f16 1.0
  zo::ParamSet set;
  Params() {
    set.add("layers.0.weight", zo::DType::f32, {3, 4}, w.data());
    set.add("layers.0.bias", zo::DType::bf16, {4}, b.data());
    set.add("head.weight", zo::DType::f16, {2, 3}, h.data());
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t crc(std::string_view s) {
  return std::uint32_t(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(s.data()), uInt(s.size())));
}

// A valid checkpoint of Params with r-adazo state, written by the library: the files every mode starts from.
struct Template {
  std::string params, optimizer, state;
  Template() {
    Params p;
    zo::StateDict sd;
    sd.kind = "r-adazo";
    sd.scalars["t"] = 3;
    for (const zo::Param& q : p.set.params()) {
      sd.scalars[q.name + "/t"] = 3;
      sd.tensors[q.name + "/m"] = std::vector<float>(std::size_t(q.numel), 0.25f);
      sd.tensors[q.name + "/v"] = std::vector<float>(std::size_t(q.numel), 0.125f);
    }
    zo::RunState rs;
    rs.step = 3;
    rs.run_seed = 7;
    rs.total_steps = 10;
    rs.position = 2;
    rs.extra = {{"run", {{"steps", 10}, {"batch_size", 4}}}};
    const fs::path root = zo::fuzz::scratch("checkpoint") / "template";
    const fs::path dir = zo::write_checkpoint(root, p.set, sd, rs);
    params = slurp(dir / "params.safetensors");
    optimizer = slurp(dir / "optimizer.zosd");
    state = slurp(dir / "state.json");
  }
};

const Template& base() {
  static const Template t;
  return t;
}

std::string state_json(std::string_view params, std::string_view optimizer) {
  nlohmann::json meta = nlohmann::json::parse(base().state);
  meta["files"] = {{"params.safetensors", {{"bytes", params.size()}, {"crc32", crc(params)}}},
                   {"optimizer.zosd", {{"bytes", optimizer.size()}, {"crc32", crc(optimizer)}}}};
  return meta.dump(2) + "\n";
}

// What resume does with a loaded optimizer state: an optimizer of the kind it names loads it.
void load_optimizer(const zo::StateDict& sd, const zo::ParamSet& set) {
  zo::OptimizerOptions o;
  o.kind = zo::optimizer_kind_from_string(sd.kind);
  if (o.kind == zo::OptimizerKind::zo_sgd) o.momentum = 0.9;  // a stateful zo-sgd
  zo::Optimizer::create(o)->load_state_dict(sd, set);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* out = std::getenv("ZO_FUZZ_WRITE_SEEDS")) {
    const Template& t = base();
    fs::create_directories(out);
    const std::string seeds[] = {std::string(1, '\0') + t.optimizer, std::string(1, '\1') + t.state,
                                 std::string(1, '\2') + t.params, std::string(1, '\3') + t.optimizer};
    for (int mode = 0; mode < 4; ++mode) zo::fuzz::put_file(fs::path(out) / ("mode" + std::to_string(mode)), seeds[mode]);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Template& t = base();
  const std::string_view rest = zo::fuzz::as_text(data + 1, size - 1);
  const fs::path root = zo::fuzz::scratch("checkpoint") / "run";
  const fs::path dir = root / "step-00000003";
  const int mode = data[0] % 4;
  if (mode > 0) {
    fs::create_directories(dir);
    const std::string_view params = mode == 2 ? rest : std::string_view(t.params);
    const std::string_view optimizer = mode == 3 ? rest : std::string_view(t.optimizer);
    zo::fuzz::put_file(dir / "params.safetensors", params);
    zo::fuzz::put_file(dir / "optimizer.zosd", optimizer);
    zo::fuzz::put_file(dir / "state.json", mode == 1 ? std::string(rest) : state_json(params, optimizer));
  }
  Params p;
  try {
    if (mode == 0) {
      load_optimizer(zo::StateDict::deserialize(rest), p.set);
    } else {
      const auto latest = zo::latest_checkpoint(root);
      if (!latest) return 0;
      zo::LoadedCheckpoint loaded = zo::load_checkpoint(*latest, p.set);
      // The checks resume makes before it trusts the checkpoint.
      zo::fuzz::sink = loaded.state.extra.value("run", nlohmann::json()).size() + std::uint64_t(loaded.state.step);
      load_optimizer(loaded.optimizer, p.set);
    }
  } catch (const zo::Error&) {
  }
  return 0;
}
