// Philox4x32-10 against the Random123 known-answer vectors (Random123 tests/kat_vectors), and the
// counter/key layout random.hpp documents.
#include "zo/core/philox.hpp"
#include "zo/core/random.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using zo::PhiloxCounter;
using zo::PhiloxKey;

TEST(Philox, MatchesRandom123KnownAnswerForZeroInputs) {
  EXPECT_EQ(zo::philox4x32_10({0, 0, 0, 0}, {0, 0}), (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

TEST(Philox, MatchesRandom123KnownAnswerForAllOnes) {
  EXPECT_EQ(zo::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
}

TEST(Philox, MatchesRandom123KnownAnswerForPiDigits) {
  EXPECT_EQ(zo::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, IsUsableAtCompileTime) {
  static_assert(zo::philox4x32_10({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5u);
  SUCCEED();
}

TEST(PhiloxStream, BitsAtUsesTheDocumentedCounterAndKeyLayout) {
  // key = (lo32(seed), tensor), counter = (lo32(i/4), hi32(i/4), hi32(seed), stream), word i % 4.
  const zo::RandomStream s{0x0123456789abcdefull, 0xdeadbeef, zo::Stream::low_rank_v};
  for (const std::int64_t i : {std::int64_t(0), std::int64_t(3), std::int64_t(4), std::int64_t(1001),
                               (std::int64_t(5) << 34) + 2}) {
    const std::uint64_t c = std::uint64_t(i) / 4;
    const PhiloxCounter w = zo::philox4x32_10({std::uint32_t(c), std::uint32_t(c >> 32), 0x01234567u, 3u},
                                              {0x89abcdefu, 0xdeadbeefu});
    EXPECT_EQ(zo::bits_at(s, i), w[std::size_t(i % 4)]) << "i = " << i;
  }
}

TEST(PhiloxStream, FillBitsAgreesWithBitsAtForEveryOffsetAndLength) {
  const zo::RandomStream s{77, 12345, zo::Stream::mask};
  for (const std::int64_t begin : {0, 1, 2, 3, 5, 63, 64, 65, 1000}) {
    for (const std::int64_t n : {0, 1, 3, 4, 7, 64, 65, 200}) {
      std::vector<std::uint32_t> out(std::size_t(n) + 1, 0xa5a5a5a5u);
      zo::fill_bits(s, begin, n, out.data());
      for (std::int64_t k = 0; k < n; ++k) ASSERT_EQ(out[std::size_t(k)], zo::bits_at(s, begin + k));
      EXPECT_EQ(out[std::size_t(n)], 0xa5a5a5a5u) << "wrote past n";
    }
  }
}

TEST(PhiloxStream, CountersAboveTwoToThe32UseTheHighWord) {
  const zo::RandomStream s{9, 9, zo::Stream::value};
  const std::int64_t i = (std::int64_t(1) << 34) + 1;  // counter 2^32: (lo, hi) = (0, 1)
  std::uint32_t out[2];
  zo::fill_bits(s, i, 2, out);
  const PhiloxCounter w = zo::philox4x32_10({0, 1, 0, 0}, {9, 9});
  EXPECT_EQ(out[0], w[1]);
  EXPECT_EQ(out[1], w[2]);
  EXPECT_NE(zo::bits_at(s, i), zo::bits_at(s, 1));
}

}  // namespace
