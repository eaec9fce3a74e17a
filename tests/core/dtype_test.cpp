// DType names and the f16 / bf16 conversions against known IEEE bit patterns.
#include "zo/core/dtype.hpp"
#include "zo/util/error.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace {

using zo::DType;

std::uint32_t bits(float f) { return std::bit_cast<std::uint32_t>(f); }

TEST(DType, NamesRoundTripAndAliasesParse) {
  for (const DType d : {DType::f32, DType::f16, DType::bf16}) EXPECT_EQ(zo::dtype_from_string(zo::to_string(d)), d);
  EXPECT_EQ(zo::dtype_from_string("float32"), DType::f32);
  EXPECT_EQ(zo::dtype_from_string("float16"), DType::f16);
  EXPECT_EQ(zo::dtype_from_string("bfloat16"), DType::bf16);
  EXPECT_EQ(zo::size_of(DType::f32), 4u);
  EXPECT_EQ(zo::size_of(DType::f16), 2u);
  EXPECT_EQ(zo::size_of(DType::bf16), 2u);
}

TEST(DType, UnknownNameThrowsListingTheValidOnes) {
  try {
    zo::dtype_from_string("fp8");
    FAIL() << "no throw";
  } catch (const zo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos);
  }
}

TEST(F16, DecodesKnownBitPatterns) {
  EXPECT_EQ(zo::f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(zo::f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(zo::f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(zo::f16_to_f32(0x0400), 0x1p-14f);           // smallest normal
  EXPECT_EQ(zo::f16_to_f32(0x0001), 0x1p-24f);           // smallest subnormal
  EXPECT_EQ(zo::f16_to_f32(0x03ff), 1023 * 0x1p-24f);    // largest subnormal
  EXPECT_EQ(zo::f16_to_f32(0x3555), 0.333251953125f);    // nearest half to 1/3
  EXPECT_EQ(bits(zo::f16_to_f32(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(zo::f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(zo::f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(zo::f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::isnan(zo::f16_to_f32(0x7c01)));
}

TEST(F16, EncodesWithRoundToNearestEven) {
  EXPECT_EQ(zo::f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(zo::f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(zo::f32_to_f16(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(zo::f32_to_f16(65520.0f), 0x7c00);  // halfway, odd mantissa: rounds to infinity
  EXPECT_EQ(zo::f32_to_f16(1e9f), 0x7c00);
  EXPECT_EQ(zo::f32_to_f16(-1e9f), 0xfc00);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to the even 1.
  EXPECT_EQ(zo::f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
  // 1 + 3·2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  EXPECT_EQ(zo::f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
  EXPECT_EQ(zo::f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);  // just above halfway
  // Subnormals.
  EXPECT_EQ(zo::f32_to_f16(0x1p-24f), 0x0001);
  EXPECT_EQ(zo::f32_to_f16(0x1p-25f), 0x0000);                 // halfway to the smallest: ties to 0
  EXPECT_EQ(zo::f32_to_f16(0x1p-25f + 0x1p-40f), 0x0001);      // just above halfway
  EXPECT_EQ(zo::f32_to_f16(3 * 0x1p-25f), 0x0002);             // 1.5 units: ties to even 2
  EXPECT_EQ(zo::f32_to_f16(5 * 0x1p-25f), 0x0002);             // 2.5 units: ties to even 2
  EXPECT_EQ(zo::f32_to_f16(1023.5f * 0x1p-24f), 0x0400);       // rounds up into the smallest normal
  EXPECT_EQ(zo::f32_to_f16(0x1p-30f), 0x0000);
  EXPECT_EQ(zo::f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(zo::f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  const std::uint16_t nan = zo::f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_NE(zo::f32_to_f16(std::bit_cast<float>(0x7f800001u)) & 0x03ff, 0);  // signalling NaN stays NaN
}

TEST(F16, EveryNonNanHalfRoundTripsExactly) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;
    ASSERT_EQ(zo::f32_to_f16(zo::f16_to_f32(std::uint16_t(h))), h) << std::hex << h;
  }
}

TEST(Bf16, ConvertsKnownValuesWithRoundToNearestEven) {
  EXPECT_EQ(zo::f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(zo::bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(zo::f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(zo::f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(zo::f32_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_TRUE(std::isnan(zo::bf16_to_f32(zo::f32_to_bf16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(BulkConversion, MatchesTheScalarFormsForAllTypes) {
  std::vector<float> src;
  for (std::uint32_t h = 0; h < 0x10000; ++h) src.push_back(zo::f16_to_f32(std::uint16_t(h)));
  for (std::uint32_t k = 0; k < 100000; ++k) src.push_back(std::bit_cast<float>(k * 2654435761u));
  src.push_back(65520.0f);
  src.push_back(0x1p-25f);
  for (const DType d : {DType::f16, DType::bf16}) {
    std::vector<std::uint16_t> packed(src.size());
    zo::from_f32(d, src.data(), packed.data(), src.size());
    std::vector<float> back(src.size());
    zo::to_f32(d, packed.data(), back.data(), src.size());
    for (std::size_t i = 0; i < src.size(); ++i) {
      const std::uint16_t expect = d == DType::f16 ? zo::f32_to_f16(src[i]) : zo::f32_to_bf16(src[i]);
      if (std::isnan(src[i])) {
        ASSERT_TRUE(std::isnan(back[i]));
        continue;
      }
      ASSERT_EQ(packed[i], expect) << zo::to_string(d) << " at " << i << " value " << src[i];
      const float expect_back = d == DType::f16 ? zo::f16_to_f32(expect) : zo::bf16_to_f32(expect);
      ASSERT_EQ(bits(back[i]), bits(expect_back));
    }
  }
  std::vector<float> copy(src.size());
  zo::to_f32(DType::f32, src.data(), copy.data(), src.size());
  EXPECT_EQ(std::memcmp(copy.data(), src.data(), src.size() * 4), 0);
}

}  // namespace
