// safetensors: reading a file Python wrote by hand, rejecting corrupt files with messages that name
// the file and tensor, and atomic round-trip writing.
#include "zo/nn/safetensors.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using zo::DType;
using zo::nn::SafeTensors;

namespace {

const fs::path golden = fs::path(ZO_SOURCE_DIR) / "tests/data/models/safetensors/python_written.safetensors";

// A fresh folder per test, removed at the end.
class SafeTensorsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("zo_st_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes an 8-byte little-endian length (header.size() unless overridden), the header, the data.
  fs::path write_raw(const std::string& name, const std::string& header, const std::string& data,
                     std::int64_t length_override = -1) {
    fs::path p = dir_ / name;
    std::ofstream out(p, std::ios::binary);
    std::uint64_t n = length_override >= 0 ? std::uint64_t(length_override) : header.size();
    for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
    out << header << data;
    return p;
  }

  fs::path dir_;
};

// Expects open(path) to throw zo::Error whose message contains every one of `parts`.
void expect_open_error(const fs::path& path, const std::vector<std::string>& parts) {
  try {
    SafeTensors::open(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const zo::Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

template <class T>
T load(const void* p, std::size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(p) + i * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

TEST(SafeTensorsRead, ReadsAFileWrittenByPythonByHand) {
  SafeTensors st = SafeTensors::open(golden);
  ASSERT_EQ(st.tensors().size(), 5u);
  // In data order.
  EXPECT_EQ(st.tensors()[0].name, "weight.f32");
  EXPECT_EQ(st.tensors()[1].name, "half");

  const auto& w = st.at("weight.f32");
  EXPECT_EQ(w.dtype, DType::f32);
  EXPECT_EQ(w.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(w.numel(), 6);
  EXPECT_EQ(w.nbytes, 24u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(load<float>(w.data, i), 0.5f * float(i));

  const auto& h = st.at("half");
  EXPECT_EQ(h.dtype, DType::f16);
  const std::uint16_t half_bits[] = {0x3C00, 0xC100, 0x7BFF, 0x0001};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(load<std::uint16_t>(h.data, i), half_bits[i]);

  const auto& b = st.at("brain");
  EXPECT_EQ(b.dtype, DType::bf16);
  EXPECT_EQ(b.shape, (std::vector<std::int64_t>{3, 1}));
  const std::uint16_t bf16_bits[] = {0x3F80, 0xC000, 0x4049};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(load<std::uint16_t>(b.data, i), bf16_bits[i]);

  const auto& s = st.at("scalar");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(load<float>(s.data, 0), -7.25f);

  const auto& e = st.at("empty");
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.nbytes, 0u);

  EXPECT_EQ(st.metadata().at("format"), "pt");
  EXPECT_EQ(st.metadata().at("creator"), "make_safetensors_golden.py");
  EXPECT_EQ(st.find("absent"), nullptr);
}

TEST(SafeTensorsRead, AtNamesFileAndTensorWhenAbsent) {
  SafeTensors st = SafeTensors::open(golden);
  try {
    st.at("model.norm.weight");
    ADD_FAILURE() << "no error";
  } catch (const zo::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(golden.string()), std::string::npos) << m;
    EXPECT_NE(m.find("model.norm.weight"), std::string::npos) << m;
  }
}

TEST_F(SafeTensorsFiles, MissingFileIsAnError) { expect_open_error(dir_ / "nope.safetensors", {"cannot open"}); }

TEST_F(SafeTensorsFiles, FileShorterThanTheLengthFieldIsAnError) {
  fs::path p = dir_ / "short.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_open_error(p, {"too short"});
}

TEST_F(SafeTensorsFiles, HeaderLengthPastEndOfFileIsAnError) {
  expect_open_error(write_raw("long.safetensors", "{}", "", 1000), {"header length 1000"});
}

TEST_F(SafeTensorsFiles, HugeHeaderLengthIsAnError) {
  expect_open_error(write_raw("huge.safetensors", "{}", "", std::int64_t(1) << 40), {"exceeds"});
}

TEST_F(SafeTensorsFiles, BadJsonIsAnError) {
  expect_open_error(write_raw("bad.safetensors", "{\"a\": {", ""), {"not valid JSON"});
}

TEST_F(SafeTensorsFiles, NonObjectHeaderIsAnError) {
  expect_open_error(write_raw("array.safetensors", "[1, 2]", ""), {"JSON object"});
}

TEST_F(SafeTensorsFiles, UnknownDtypeNamesTensor) {
  expect_open_error(
      write_raw("dtype.safetensors", R"({"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
      {"'w'", "unknown dtype 'F12'"});
}

TEST_F(SafeTensorsFiles, KnownButUnsupportedDtypeSaysSo) {
  expect_open_error(
      write_raw("i64.safetensors", R"({"ids": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})",
                std::string(8, '\0')),
      {"'ids'", "'I64' is not supported"});
}

TEST_F(SafeTensorsFiles, MissingOffsetsNamesTensor) {
  expect_open_error(write_raw("nooff.safetensors", R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd"),
                    {"'w'", "data_offsets"});
}

TEST_F(SafeTensorsFiles, NegativeDimensionNamesTensor) {
  expect_open_error(
      write_raw("neg.safetensors", R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "abcd"),
      {"'w'", "non-negative"});
}

TEST_F(SafeTensorsFiles, OffsetsOutOfBufferNameTensor) {
  expect_open_error(
      write_raw("oob.safetensors", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd"),
      {"'w'", "out of the data buffer"});
}

TEST_F(SafeTensorsFiles, BeginAfterEndNamesTensor) {
  expect_open_error(
      write_raw("rev.safetensors", R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", "abcd"),
      {"'w'", "begin > end"});
}

TEST_F(SafeTensorsFiles, ByteCountNotMatchingShapeTimesDtypeNamesTensor) {
  expect_open_error(
      write_raw("count.safetensors", R"({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 8]}})",
                std::string(8, '\0')),
      {"'w'", "needs 6"});
}

TEST_F(SafeTensorsFiles, OverlappingTensorsAreAnError) {
  expect_open_error(write_raw("overlap.safetensors",
                              R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                              R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                              std::string(12, '\0')),
                    {"'b'", "overlap", "'a'"});
}

TEST_F(SafeTensorsFiles, GapBetweenTensorsIsAnError) {
  expect_open_error(write_raw("gap.safetensors",
                              R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                              R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                              std::string(12, '\0')),
                    {"'b'", "gap"});
}

TEST_F(SafeTensorsFiles, TrailingBytesAreAnError) {
  expect_open_error(write_raw("trail.safetensors", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                              std::string(6, '\0')),
                    {"trailing"});
}

TEST_F(SafeTensorsFiles, NonStringMetadataIsAnError) {
  expect_open_error(write_raw("meta.safetensors", R"({"__metadata__": {"step": 3}})", ""), {"'step'"});
}

TEST_F(SafeTensorsFiles, WriteThenReadRoundTripsNamesShapesDtypesBytesAndMetadata) {
  std::vector<float> a = {1.f, -2.f, 3.5f, 0.f, 1e-30f, 7.f};
  std::vector<std::uint16_t> b = {0x3C00, 0x8001};
  std::vector<std::uint16_t> c = {0x3F80};
  std::vector<zo::nn::TensorToWrite> tensors = {
      {"z.first", DType::f32, {3, 2}, a.data()}, {"b", DType::f16, {2}, b.data()}, {"c", DType::bf16, {1, 1}, c.data()}};
  fs::path p = dir_ / "out.safetensors";
  zo::nn::write_safetensors(p, tensors, {{"format", "pt"}});

  SafeTensors st = SafeTensors::open(p);
  ASSERT_EQ(st.tensors().size(), 3u);
  EXPECT_EQ(st.tensors()[0].name, "z.first");  // the given order, not sorted
  const auto& ra = st.at("z.first");
  EXPECT_EQ(ra.shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(std::memcmp(ra.data, a.data(), a.size() * 4), 0);
  EXPECT_EQ(st.at("b").dtype, DType::f16);
  EXPECT_EQ(std::memcmp(st.at("b").data, b.data(), 4), 0);
  EXPECT_EQ(st.at("c").dtype, DType::bf16);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  // The data buffer starts 8-byte aligned, and no temporary file is left behind.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ra.data) % 8, 0u);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

TEST_F(SafeTensorsFiles, WriteReplacesAnExistingFileWhole) {
  std::vector<float> a(100, 1.f), b = {2.f};
  fs::path p = dir_ / "w.safetensors";
  zo::nn::write_safetensors(p, std::vector<zo::nn::TensorToWrite>{{"a", DType::f32, {100}, a.data()}});
  zo::nn::write_safetensors(p, std::vector<zo::nn::TensorToWrite>{{"b", DType::f32, {1}, b.data()}});
  SafeTensors st = SafeTensors::open(p);
  ASSERT_EQ(st.tensors().size(), 1u);
  EXPECT_EQ(load<float>(st.at("b").data, 0), 2.f);
}

TEST_F(SafeTensorsFiles, WriteRejectsDuplicateNames) {
  float x = 0.f;
  std::vector<zo::nn::TensorToWrite> tensors = {{"a", DType::f32, {1}, &x}, {"a", DType::f32, {1}, &x}};
  fs::path p = dir_ / "dup.safetensors";
  try {
    zo::nn::write_safetensors(p, tensors);
    ADD_FAILURE() << "no error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("duplicate tensor name 'a'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(SafeTensorsFiles, WriteIntoMissingFolderNamesThePath) {
  float x = 0.f;
  fs::path p = dir_ / "no/such/dir/x.safetensors";
  try {
    zo::nn::write_safetensors(p, std::vector<zo::nn::TensorToWrite>{{"a", DType::f32, {1}, &x}});
    ADD_FAILURE() << "no error";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
}
