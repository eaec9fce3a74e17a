// TextStream (include/zo/nn/text_stream.hpp): tokens turned into text one at a time give whole UTF-8
// characters only, and together exactly the text decode() gives, for a byte-level BPE tokenizer
// (multi-byte characters split across tokens) and a SentencePiece one with byte fallback.
#include "zo/nn/text_stream.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace {

const std::filesystem::path source_dir = ZO_SOURCE_DIR;

// True when s is valid UTF-8 (no truncated or stray continuation bytes).
bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + std::size_t(n) > s.size()) return false;
    for (int k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + std::size_t(k)]) >> 6) != 0x2) return false;
    i += std::size_t(n);
  }
  return true;
}

void expect_streams_whole_characters(const std::filesystem::path& tokenizer_json) {
  const auto tokenizer = zo::nn::Tokenizer::from_file(tokenizer_json);
  const std::string text = "The whale — naïve café, 東京 and 🐋 swam on.";
  const std::vector<std::int32_t> ids = tokenizer.encode(text, false);
  zo::nn::TextStream stream(tokenizer);
  std::string streamed;
  int held = 0;
  for (std::int32_t id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_TRUE(valid_utf8(piece)) << tokenizer_json << " token " << id;
    held += piece.empty();
    streamed += piece;
  }
  streamed += stream.finish();
  EXPECT_EQ(streamed, tokenizer.decode(ids));
  EXPECT_EQ(stream.ids(), ids);
  EXPECT_GT(held, 0) << "no token ended inside a character: the test text does not exercise holding back";
  EXPECT_EQ(stream.finish(), "");
}

}  // namespace

TEST(TextStream, ByteLevelBpeGivesWholeCharacters) {
  expect_streams_whole_characters(source_dir / "tests/data/models/opt-tied/tokenizer.json");
}

TEST(TextStream, ByteFallbackGivesWholeCharacters) {
  expect_streams_whole_characters(source_dir / "tests/data/tokenizers/llama2/tokenizer.json");
}

TEST(TextStream, AnUnfinishedCharacterComesOutAtTheEnd) {
  const auto tokenizer = zo::nn::Tokenizer::from_file(source_dir / "tests/data/models/opt-tied/tokenizer.json");
  std::vector<std::int32_t> ids = tokenizer.encode("🐋", false);
  ASSERT_GT(ids.size(), 1u);
  ids.pop_back();  // the character's last byte never comes
  zo::nn::TextStream stream(tokenizer);
  for (std::int32_t id : ids) EXPECT_EQ(stream.push(id), "");
  EXPECT_EQ(stream.finish(), tokenizer.decode(ids));
}
