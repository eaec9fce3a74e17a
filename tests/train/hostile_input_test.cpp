// Hostile inputs to the train layer's loaders — the options JSON, checkpoint state, the ledger —
// that crashed them or could have: the inputs the fuzz targets found (fuzz/, docs/reliability.md),
// kept byte for byte, and their kin. Each must be refused with a zo::Error naming the file or key.
#include "../test_util.hpp"

#include "zo/core/params.hpp"
#include "zo/core/random.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/train/checkpoint.hpp"
#include "zo/train/ledger.hpp"
#include "zo/train/lora.hpp"
#include "zo/train/options_json.hpp"
#include "zo/train/replay.hpp"
#include "zo/train/trainer.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using zo::test::expect_error;

void put(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Found by options_fuzz: an integer key given 3.3e19 (a float beyond int64) was converted with
// undefined behaviour.
TEST(HostileInput, OptionsJsonRefusesAFloatOrAnOutOfRangeNumberForAnIntegerKey) {
  const std::string found =
      "{\"direction\": {\"kinqueries\": 2, \"difference\": \"forward\"}, \"optimizer\": {\"kind\": \"zo-adamm\", \"lr\": "
      "0.0001, \"momentum\": 0.5, \"weight_decay\": 0.01, \"no_decay_pattern\": \"bias$\", \"beta1\": 5.9, \"beta2\": 0.99, "
      "\"zeta\": 1e-08, \"amsgrad\": true, \"bias_correction\": true, \"zeta_outside_root\": false, \"state\": "
      "\"active-block\", \"groups\": [{\"pattern\": \"layers\\\\.0\\\\.\", \"lr_scale\": 0.5, \"weight_decay\": 0.0}]}, "
      "\"schedule\": {\"kind\": \"linear\", \"warmup_steps\": 33333333333333333333.1}}";
  const nlohmann::json j = nlohmann::json::parse(found);
  expect_error([&] { zo::schedule_options_from_json(j.at("schedule"), "run.json: schedule"); },
               {"run.json: schedule", "warmup_steps", "must be an integer"});
  const auto direction = [](const char* text) { zo::direction_options_from_json(nlohmann::json::parse(text), "d"); };
  expect_error([&] { direction(R"({"rank": 1e30})"); }, {"'rank'", "must be an integer"});
  expect_error([&] { direction(R"({"rank": 2.5})"); }, {"'rank'", "must be an integer"});
  expect_error([&] { direction(R"({"blocks_per_step": 4294967296})"); }, {"'blocks_per_step'", "must be an integer"});
  expect_error([&] { zo::estimator_options_from_json(nlohmann::json::parse(R"({"queries": -1e300})"), "e"); },
               {"'queries'", "must be an integer"});
  // Integers in range still read, floats where a float belongs too.
  EXPECT_EQ(zo::schedule_options_from_json(nlohmann::json::parse(R"({"warmup_steps": 12, "lr_min_ratio": 1})"), "s").warmup_steps, 12);
}

// Found by ledger_fuzz: a number beyond double's range in the config line threw
// nlohmann::json::out_of_range, which read_ledger did not catch.
TEST(HostileInput, LedgerRefusesANumberBeyondDoubleInItsConfig) {
  const fs::path dir = zo::test::fresh_dir("zo_hostile_");
  const std::string found(
      "zo-ledger 1\nconfig {\"seed\":11e666666100000000000000066666\x01"
      "e666666666666666666666660000000000000890000000891\"ki894984237509,a\x00\x00\x00"
      "e\":\"[0]]]}}\n0\t0eed\":11100000000000000066666\x01"
      "e666666666]]}}\n0\t0000000000000018\n",
      205);
  put(dir / "ledger.tsv", found);
  expect_error([&] { zo::read_ledger(dir / "ledger.tsv"); }, {"ledger.tsv:2", "not valid JSON"});
  put(dir / "ledger.tsv", "zo-ledger 1\nconfig {\"seed\":1e999}\n");
  expect_error([&] { zo::read_ledger(dir / "ledger.tsv"); }, {"ledger.tsv:2", "not valid JSON", "number overflow"});
  fs::remove_all(dir);
}

struct Checkpoint {
  std::vector<float> w = std::vector<float>(4, 1.0f);
  zo::ParamSet set;
  fs::path dir;
  nlohmann::json meta;
  explicit Checkpoint(const fs::path& root) {
    set.add("w", zo::DType::f32, {4}, w.data());
    zo::StateDict sd;
    sd.kind = "zo-sgd";
    sd.scalars["t"] = 0;
    dir = zo::write_checkpoint(root, set, sd, zo::RunState{});
    meta = nlohmann::json::parse(zo::test::slurp(dir / "state.json"));
  }
  void write_state(const std::string& text) const { put(dir / "state.json", text); }
};

TEST(HostileInput, CheckpointStateRefusesNumbersItCannotHold) {
  const fs::path root = zo::test::fresh_dir("zo_hostile_");
  Checkpoint c(root);
  const auto with = [&](const std::string& pointer, const nlohmann::json& value) {
    nlohmann::json m = c.meta;
    m[nlohmann::json::json_pointer(pointer)] = value;
    c.write_state(m.dump());
  };
  const auto load = [&] { zo::load_checkpoint(c.dir, c.set); };
  c.write_state(R"({"format": "zo-checkpoint", "version": 1e999})");
  expect_error(load, {"state.json", "not valid JSON"});
  with("/version", 1.5);
  expect_error(load, {"state.json", "field 'version'", "must be an integer"});
  with("/version", 1e300);
  expect_error(load, {"state.json", "field 'version'", "must be an integer"});
  with("/files/params.safetensors/bytes", -1);
  expect_error(load, {"state.json", "field 'bytes'", "out of range"});
  with("/run/step", 1e30);
  expect_error(load, {"field 'step'", "must be an integer"});
  with("/run/extra", nlohmann::json::array());
  expect_error(load, {"field 'extra'", "must be a JSON object"});
  with("/files", nlohmann::json::array());
  expect_error(load, {"field 'files'", "no entry for params.safetensors"});
  fs::remove_all(root);
}

// nlohmann::json copies, compares and prints a value recursively: a value nested 200 000 levels
// deep crashed resume (the ledger's config compared with the run's, the checkpoint's extra copied).
TEST(HostileInput, DeeplyNestedJsonIsRefusedBeforeItCanOverflowTheStack) {
  const fs::path root = zo::test::fresh_dir("zo_hostile_");
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  put(root / "ledger.tsv", "zo-ledger 1\nconfig {\"seed\":" + deep + "}\n");
  expect_error([&] { zo::LedgerWriter::resume(root / "ledger.tsv", nlohmann::json{{"seed", 0}}, 0); },
               {"ledger.tsv:2", "JSON nested deeper than 256 levels"});
  Checkpoint c(root / "checkpoints");
  std::string state = c.meta.dump();
  state.replace(state.find("\"extra\":{}"), 10, "\"extra\":{\"run\":" + deep + "}");
  c.write_state(state);
  expect_error([&] { zo::load_checkpoint(c.dir, c.set); }, {"state.json", "JSON nested deeper than 256 levels"});
  // Nesting a real file could hold still reads.
  put(root / "ok.tsv", "zo-ledger 1\nconfig {\"a\":" + std::string(200, '[') + std::string(200, ']') + "}\n");
  EXPECT_EQ(zo::read_ledger(root / "ok.tsv").rows.size(), 0u);
  fs::remove_all(root);
}

// std::regex compiles recursively, one level per nested group: a pattern of 100 000 '(' in an options
// JSON (an optimizer group, the weight-decay exemption) or a LoRA target overflowed the stack.
TEST(HostileInput, RegexOptionsRefuseDeepNestingAndHugePatterns) {
  const std::string deep = std::string(100000, '(') + "a" + std::string(100000, ')');
  const auto optimizer = [](const nlohmann::json& j) { zo::optimizer_options_from_json(j, "run.json: optimizer").validate(); };
  expect_error([&] { optimizer({{"no_decay_pattern", deep}}); }, {"no_decay_pattern", "at most 4096"});
  const std::string nested = std::string(100, '(') + "a" + std::string(100, ')');
  expect_error([&] { optimizer({{"groups", {{{"pattern", nested}}}}}); }, {"groups[0].pattern", "nested deeper than 64"});
  expect_error([&] { optimizer({{"no_decay_pattern", "a{100000000}"}}); }, {"no_decay_pattern", "not a valid ECMAScript regex"});
  expect_error([&] { zo::LoraOptions{.target = nested}.validate(); }, {"lora option 'target'", "nested deeper than 64"});
  std::vector<float> w(2);
  zo::ParamSet set;
  set.add("layers.0.w", zo::DType::f32, {2}, w.data());
  expect_error([&] { set.block_by_pattern(nested); }, {"block pattern", "nested deeper than 64"});
  // Escaped and bracketed parentheses are not groups; ordinary patterns compile.
  EXPECT_NO_THROW(optimizer({{"no_decay_pattern", "[" + std::string(70, '(') + "]\\(x\\)"}}));
  EXPECT_NO_THROW(optimizer({{"groups", {{{"pattern", "(q_proj|v_proj)\\.weight$"}}}}}));
}

// A ledger whose config holds a seed that is not a non-negative integer: replay converted it with
// undefined behaviour (a float) or let nlohmann's type_error escape (a string).
TEST(HostileInput, ReplayRefusesASeedThatIsNotANonNegativeInteger) {
  std::vector<float> w(2);
  zo::ParamSet set;
  set.add("w", zo::DType::f32, {2}, w.data());
  zo::Ledger ledger;
  ledger.config = {{"params", zo::describe_params(set)},
                   {"direction", nlohmann::json::object()},
                   {"estimator", nlohmann::json::object()},
                   {"optimizer", nlohmann::json::object()},
                   {"z_stream", zo::kZStreamVersion}};
  for (const nlohmann::json& seed : {nlohmann::json(1e300), nlohmann::json(-1), nlohmann::json("7")}) {
    ledger.config["seed"] = seed;
    expect_error([&] { zo::replay_ledger(ledger, set, "ledger.tsv"); }, {"ledger.tsv", "'seed'", "must be an integer >= 0"});
  }
  ledger.config["seed"] = 7;
  EXPECT_EQ(zo::replay_ledger(ledger, set, "ledger.tsv").steps, 0);
}

}  // namespace
