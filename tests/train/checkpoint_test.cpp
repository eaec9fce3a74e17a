#include "zo/train/checkpoint.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"

#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using zo::test::TempDir;

struct Fixture {
  std::vector<float> w{1.5f, -2.25f, 3.0f, 0.1f, 1e-30f, -0.0f};
  std::vector<std::uint16_t> b{0x3f80, 0xc000};  // bf16 1, -2
  zo::ParamSet params;
  Fixture() {
    params.add("layers.0.w", zo::DType::f32, {2, 3}, w.data());
    params.add("layers.0.b", zo::DType::bf16, {2}, b.data());
  }
};

zo::StateDict state_dict() {
  zo::StateDict sd;
  sd.kind = "zo-adamm";
  sd.scalars["t"] = 7;
  sd.tensors["layers.0.w/m"] = {0.5f, 0.25f, 0, 0, 0, 1};
  return sd;
}

zo::RunState run_state(std::int64_t step) {
  zo::RunState s;
  s.step = step;
  s.run_seed = 0xDEADBEEFCAFEull;
  s.total_steps = 100;
  s.epoch = 2;
  s.position = 8;
  s.skipped_steps = 1;
  s.extra = {{"fingerprint", "abc"}};
  return s;
}

TEST(Checkpoint, RoundTripsParametersOptimizerStateAndRunStateExactly) {
  TempDir dir;
  Fixture f;
  const auto path = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(40));
  EXPECT_EQ(path.filename(), "step-00000040");
  const auto saved_w = f.w;
  const auto saved_b = f.b;
  for (auto& v : f.w) v = 9.0f;
  f.b[0] = 0;
  const auto loaded = zo::load_checkpoint(path, f.params);
  EXPECT_EQ(std::memcmp(f.w.data(), saved_w.data(), f.w.size() * 4), 0);
  EXPECT_EQ(f.b, saved_b);
  EXPECT_EQ(loaded.state.step, 40);
  EXPECT_EQ(loaded.state.run_seed, 0xDEADBEEFCAFEull);
  EXPECT_EQ(loaded.state.epoch, 2);
  EXPECT_EQ(loaded.state.position, 8);
  EXPECT_EQ(loaded.state.skipped_steps, 1);
  EXPECT_EQ(loaded.state.extra["fingerprint"], "abc");
  EXPECT_EQ(loaded.optimizer.kind, "zo-adamm");
  EXPECT_EQ(loaded.optimizer.scalars.at("t"), 7);
  EXPECT_EQ(loaded.optimizer.tensors.at("layers.0.w/m"), state_dict().tensors.at("layers.0.w/m"));
}

TEST(Checkpoint, KeepsTheLastNAndFindsTheLatestIgnoringTemporaryFolders) {
  TempDir dir;
  Fixture f;
  for (std::int64_t s : {10, 20, 30, 40}) zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(s), {.keep_last = 2});
  EXPECT_FALSE(fs::exists(dir.path / "step-00000010"));
  EXPECT_FALSE(fs::exists(dir.path / "step-00000020"));
  EXPECT_TRUE(fs::exists(dir.path / "step-00000030"));
  fs::create_directories(dir.path / ".tmp-step-00000050");  // a write killed half way
  EXPECT_EQ(zo::latest_checkpoint(dir.path), dir.path / "step-00000040");
  EXPECT_FALSE(zo::latest_checkpoint(dir.path / "none").has_value());
  EXPECT_THROW(zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(1), {.keep_last = 0}), zo::Error);
}

std::string load_error(const fs::path& path, zo::ParamSet& params) {
  try {
    zo::load_checkpoint(path, params);
  } catch (const zo::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, ShapeDtypeAndNameMismatchesAreErrorsNamingTheTensor) {
  TempDir dir;
  Fixture f;
  const auto path = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(5));

  std::vector<float> w2(6), b2(2);
  zo::ParamSet other_shape;
  other_shape.add("layers.0.w", zo::DType::f32, {3, 2}, w2.data());
  other_shape.add("layers.0.b", zo::DType::bf16, {2}, f.b.data());
  EXPECT_NE(load_error(path, other_shape).find("tensor 'layers.0.w': shape [2, 3] but the model's is [3, 2]"), std::string::npos);

  zo::ParamSet other_dtype;
  other_dtype.add("layers.0.w", zo::DType::f32, {2, 3}, w2.data());
  other_dtype.add("layers.0.b", zo::DType::f32, {2}, b2.data());
  EXPECT_NE(load_error(path, other_dtype).find("tensor 'layers.0.b': dtype bf16"), std::string::npos);

  zo::ParamSet missing;
  missing.add("layers.0.w", zo::DType::f32, {2, 3}, w2.data());
  missing.add("layers.1.w", zo::DType::f32, {2, 3}, w2.data());
  EXPECT_NE(load_error(path, missing).find("tensor 'layers.1.w': missing"), std::string::npos);

  zo::ParamSet fewer;
  fewer.add("layers.0.w", zo::DType::f32, {2, 3}, w2.data());
  EXPECT_NE(load_error(path, fewer).find("tensor 'layers.0.b': not a trainable parameter"), std::string::npos);
  EXPECT_EQ(w2, std::vector<float>(6, 0.0f));  // nothing written when a check fails
}

TEST(Checkpoint, CorruptOrIncompleteFilesAreErrors) {
  TempDir dir;
  Fixture f;
  const auto path = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(5));
  {
    std::fstream io(path / "optimizer.zosd", std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(10);
    io.put('\x7f');
  }
  EXPECT_NE(load_error(path, f.params).find("optimizer.zosd: CRC-32 mismatch"), std::string::npos);

  const auto path2 = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(6));
  fs::remove(path2 / "params.safetensors");
  EXPECT_NE(load_error(path2, f.params).find("params.safetensors: missing"), std::string::npos);

  const auto path3 = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(7), {.keep_last = 5});
  std::string meta;
  {
    std::ifstream in(path3 / "state.json");
    std::stringstream s;
    s << in.rdbuf();
    meta = s.str();
  }
  const auto pos = meta.find("\"version\": 1");
  ASSERT_NE(pos, std::string::npos);
  meta.replace(pos, 12, "\"version\": 9");
  std::ofstream(path3 / "state.json", std::ios::trunc) << meta;
  EXPECT_NE(load_error(path3, f.params).find("field 'version': 9 is not supported"), std::string::npos);
  std::ofstream(path3 / "state.json", std::ios::trunc) << "{";
  EXPECT_NE(load_error(path3, f.params).find("not valid JSON"), std::string::npos);
}

TEST(Checkpoint, AnotherZStreamVersionIsRefusedNamingTheFileAndBothVersions) {
  TempDir dir;
  Fixture f;
  const auto path = zo::write_checkpoint(dir.path, f.params, state_dict(), run_state(3));
  nlohmann::json meta;
  std::ifstream(path / "state.json") >> meta;
  EXPECT_EQ(meta.at("z_stream"), zo::kZStreamVersion);
  for (const bool drop : {false, true}) {
    // A checkpoint written before the field drew from version 1.
    if (drop) {
      meta.erase("z_stream");
    } else {
      meta["z_stream"] = 1;
    }
    std::ofstream(path / "state.json", std::ios::trunc) << meta.dump();
    const std::string error = load_error(path, f.params);
    EXPECT_NE(error.find((path / "state.json").string()), std::string::npos) << error;
    EXPECT_NE(error.find(fmt::format("z-stream version 1, but this zo draws version {}", zo::kZStreamVersion)),
              std::string::npos)
        << error;
  }
}

TEST(RunState, FromJsonNamesAMissingField) {
  nlohmann::json j = run_state(3).to_json();
  j.erase("position");
  try {
    zo::RunState::from_json(j, "x/state.json");
    FAIL();
  } catch (const zo::Error& e) {
    EXPECT_EQ(std::string(e.what()), "x/state.json: field 'position': missing");
  }
}

}  // namespace
