// ParamSet registration errors and block partitions.
#include "zo/util/error.hpp"
#include "zo/core/params.hpp"
#include "zo/core/random.hpp"
#include "../test_util.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using zo::test::expect_error;

namespace {

using zo::DType;

TEST(ParamSet, AddRecordsNameShapeKeyAndNumel) {
  std::vector<float> w(12);
  zo::ParamSet set;
  EXPECT_EQ(set.add("w", DType::f32, {3, 4}, w.data()), 0u);
  const zo::Param& p = set.param(0);
  EXPECT_EQ(p.name, "w");
  EXPECT_EQ(p.numel, 12);
  EXPECT_EQ(p.key, zo::tensor_key("w"));
  EXPECT_EQ(p.data, w.data());
  EXPECT_EQ(set.numel(), 12);
  EXPECT_EQ(set.find("w"), &set.param(0));
  EXPECT_EQ(set.find("v"), nullptr);
}

TEST(ParamSet, NewParamsGetABlockOfTheirOwn) {
  std::vector<float> a(3), b(5);
  zo::ParamSet set;
  set.add("a", DType::f32, {3}, a.data());
  set.add("b", DType::bf16, {5}, b.data());
  ASSERT_EQ(set.blocks().size(), 2u);
  EXPECT_EQ(set.blocks()[1].name, "b");
  EXPECT_EQ(set.blocks()[1].numel, 5);
  EXPECT_EQ(set.block_of(1), 1u);
}

TEST(ParamSet, RejectsBadRegistrations) {
  std::vector<float> w(8);
  zo::ParamSet set;
  set.add("w", DType::f32, {8}, w.data());
  expect_error([&] { set.add("", DType::f32, {1}, w.data()); }, {"empty"});
  expect_error([&] { set.add("w", DType::f32, {1}, w.data()); }, {"'w'", "already"});
  expect_error([&] { set.add("v", DType::f32, {2, 0}, w.data()); }, {"'v'", "shape[1] = 0", "> 0"});
  expect_error([&] { set.add("v", DType::f32, {-3}, w.data()); }, {"shape[0] = -3"});
  expect_error([&] { set.add("v", DType::f32, {2}, nullptr); }, {"'v'", "null"});
  EXPECT_EQ(set.params().size(), 1u);
}

TEST(ParamSet, RejectsTensorKeyCollisions) {
  // "costarring" and "liquid" are a known FNV-1a 32 collision pair.
  ASSERT_EQ(zo::tensor_key("costarring"), zo::tensor_key("liquid"));
  std::vector<float> w(2);
  zo::ParamSet set;
  set.add("costarring", DType::f32, {2}, w.data());
  expect_error([&] { set.add("liquid", DType::f32, {2}, w.data()); }, {"'liquid'", "collides", "'costarring'"});
}

TEST(ParamSet, BlockByPatternGroupsByTheFirstCaptureGroup) {
  std::vector<float> buf(100);
  zo::ParamSet set;
  set.add("embed", DType::f32, {10}, buf.data());
  set.add("layers.0.q", DType::f32, {4}, buf.data());
  set.add("layers.1.q", DType::f32, {6}, buf.data());
  set.add("layers.0.k", DType::f32, {5}, buf.data());
  set.add("layers.10.q", DType::f32, {7}, buf.data());
  set.add("head", DType::f32, {3}, buf.data());
  set.block_by_pattern("layers\\.(\\d+)\\.");
  ASSERT_EQ(set.blocks().size(), 5u);
  EXPECT_EQ(set.blocks()[0].name, "embed");
  EXPECT_EQ(set.blocks()[1].name, "layers.0.");
  EXPECT_EQ(set.blocks()[1].params, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(set.blocks()[1].numel, 9);
  EXPECT_EQ(set.blocks()[2].name, "layers.1.");
  EXPECT_EQ(set.blocks()[3].name, "layers.10.");
  EXPECT_EQ(set.blocks()[4].name, "head");
  EXPECT_EQ(set.block_of(3), 1u);
  EXPECT_EQ(set.block_of(5), 4u);
  set.block_per_param();
  EXPECT_EQ(set.blocks().size(), 6u);
  EXPECT_EQ(set.block_of(3), 3u);
}

TEST(ParamSet, BlockByPatternWithoutGroupUsesTheWholeMatch) {
  std::vector<float> buf(10);
  zo::ParamSet set;
  set.add("enc.attn.w", DType::f32, {2}, buf.data());
  set.add("dec.attn.w", DType::f32, {2}, buf.data());
  set.add("enc.mlp.w", DType::f32, {2}, buf.data());
  set.block_by_pattern("^(?:enc|dec)");
  ASSERT_EQ(set.blocks().size(), 2u);
  EXPECT_EQ(set.blocks()[0].name, "enc");
  EXPECT_EQ(set.blocks()[0].params, (std::vector<std::size_t>{0, 2}));
}

TEST(ParamSet, BlockByPatternNamesAnInvalidRegex) {
  zo::ParamSet set;
  expect_error([&] { set.block_by_pattern("layers.(\\d+"); }, {"layers.(\\d+", "regex"});
}

TEST(ParamSet, SetBlocksRequiresEveryParamInExactlyOneBlock) {
  std::vector<float> buf(10);
  zo::ParamSet set;
  set.add("a", DType::f32, {2}, buf.data());
  set.add("b", DType::f32, {3}, buf.data());
  set.add("c", DType::f32, {4}, buf.data());
  expect_error([&] { set.set_blocks({{"x", {0, 1}, 0}}); }, {"'c'", "no block"});
  expect_error([&] { set.set_blocks({{"x", {0, 1}, 0}, {"y", {1, 2}, 0}}); }, {"'b'", "'x'", "'y'"});
  expect_error([&] { set.set_blocks({{"x", {0, 1, 2, 7}, 0}}); }, {"'x'", "7", "out of range"});
  expect_error([&] { set.set_blocks({{"x", {0, 1, 2}, 0}, {"empty", {}, 0}}); }, {"'empty'"});
  set.set_blocks({{"x", {2, 0}, 0}, {"y", {1}, 0}});
  EXPECT_EQ(set.blocks()[0].numel, 6);
  EXPECT_EQ(set.blocks()[0].params, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(set.block_of(1), 1u);
}

}  // namespace
