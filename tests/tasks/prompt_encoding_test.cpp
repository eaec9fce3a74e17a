// encode_example with a character-level toy encoder (BOS = 0, then one token per byte), so the
// expected ids and option lengths can be written down by hand.
#include "zo/tasks/encoded_example.hpp"

#include "zo/util/error.hpp"

#include <gtest/gtest.h>

namespace {

std::vector<std::int32_t> chars(std::string_view s) {
  std::vector<std::int32_t> ids{0};
  for (char c : s) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

TEST(EncodeExample, OptionLengthIsTheTokenCountTheCandidateAdds) {
  const zo::tasks::Example e{.context = "ab", .continuations = {" x", "yz!"}, .gold = 1, .where = "f:1"};
  const auto enc = zo::tasks::encode_example(e, chars);
  ASSERT_EQ(enc.sequences.size(), 2u);
  EXPECT_EQ(enc.sequences[0], (std::vector<std::int32_t>{0, 'a', 'b', ' ', 'x'}));
  EXPECT_EQ(enc.option_lengths, (std::vector<std::int32_t>{2, 3}));
  EXPECT_EQ(enc.gold, 1);
}

TEST(EncodeExample, LongSequencesKeepTheirLastTokens) {
  const zo::tasks::Example e{.context = "abcdef", .continuations = {"g"}, .gold = 0, .where = "f:1"};
  const auto enc = zo::tasks::encode_example(e, chars, 4);
  EXPECT_EQ(enc.sequences[0], (std::vector<std::int32_t>{'d', 'e', 'f', 'g'}));
  EXPECT_EQ(enc.option_lengths[0], 1);
}

TEST(EncodeExample, KeepLastKeepsTheStartAndTheLastTokens) {
  const zo::tasks::Example e{.context = "abcdefgh?", .continuations = {"y", "n"}, .gold = 0, .where = "f:1"};
  const auto enc = zo::tasks::encode_example(e, chars, 6, 2);  // 11 tokens → first 4 + last 2
  EXPECT_EQ(enc.sequences[0], (std::vector<std::int32_t>{0, 'a', 'b', 'c', '?', 'y'}));
  EXPECT_EQ(enc.sequences[1], (std::vector<std::int32_t>{0, 'a', 'b', 'c', '?', 'n'}));
  EXPECT_EQ(enc.option_lengths, (std::vector<std::int32_t>{1, 1}));
  const auto short_enough = zo::tasks::encode_example({.context = "ab", .continuations = {"y"}, .gold = 0, .where = "f:2"}, chars, 6, 2);
  EXPECT_EQ(short_enough.sequences[0], (std::vector<std::int32_t>{0, 'a', 'b', 'y'}));  // nothing cut
  EXPECT_THROW(zo::tasks::encode_example(e, chars, 6, 6), zo::Error);
  EXPECT_THROW(zo::tasks::encode_example(e, chars, 6, -1), zo::Error);
  const zo::tasks::Example long_option{.context = "a", .continuations = {"xyz"}, .gold = 0, .where = "t.jsonl:7"};
  try {
    zo::tasks::encode_example(long_option, chars, 6, 2);
    FAIL();
  } catch (const zo::Error& err) {
    EXPECT_NE(std::string(err.what()).find("t.jsonl:7: candidate 0 has 3 tokens, more than keep_last = 2"), std::string::npos) << err.what();
  }
}

TEST(EncodeExample, ACandidateWithNoTokensOrNoRoomIsAnErrorNamingTheRecord) {
  auto drop_tail = [](std::string_view s) { return chars(s.substr(0, 2)); };  // every text → 3 tokens
  const zo::tasks::Example e{.context = "ab", .continuations = {"c"}, .gold = 0, .where = "t.jsonl:5"};
  try {
    zo::tasks::encode_example(e, drop_tail);
    FAIL();
  } catch (const zo::Error& err) {
    EXPECT_NE(std::string(err.what()).find("t.jsonl:5"), std::string::npos);
  }
  const zo::tasks::Example long_option{.context = "a", .continuations = {"bcdef"}, .gold = 0, .where = "t.jsonl:6"};
  EXPECT_THROW(zo::tasks::encode_example(long_option, chars, 4), zo::Error);
  EXPECT_THROW(zo::tasks::encode_example(e, chars, 1), zo::Error);
}

}  // namespace
