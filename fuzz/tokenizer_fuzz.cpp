// tokenizer.json (byte-level BPE and SentencePiece-style BPE with byte fallback): Tokenizer::from_file,
// then encode and decode a few texts and ids with whatever pipeline the file declares.
#include "fuzz_util.hpp"

#include "zo/nn/tokenizer.hpp"
#include "zo/util/error.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& dir = zo::fuzz::scratch("tokenizer");
  zo::fuzz::put_file(dir / "tokenizer.json", zo::fuzz::as_text(data, size));
  try {
    const zo::nn::Tokenizer tok = zo::nn::Tokenizer::from_file(dir / "tokenizer.json");
    std::uint64_t h = std::uint64_t(tok.vocab_size());
    static const char* const texts[] = {
        "", " ", "Hello world! It was great.", "  two  spaces\tand\ttabs\n\nnew lines ",
        "caf\xC3\xA9 na\xC3\xAFve \xE2\x96\x81 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 12345 3.14",
        "<s> </s> <pad> <unk> <|endoftext|> <0x41> [CLS]", "don't won't it's I'm 'll 've 're"};
    for (const char* text : texts) {
      for (bool special : {true, false}) {
        const std::vector<std::int32_t> ids = tok.encode(text, special);
        h ^= ids.size();
        for (std::int32_t id : ids) h = h * 31 + std::uint64_t(id);
        h ^= tok.decode(ids, special).size();
      }
    }
    std::vector<std::int32_t> ids;
    for (std::int32_t id = -2; id < 64; ++id) ids.push_back(id);
    ids.push_back(std::int32_t(tok.vocab_size()));
    ids.push_back(2147483647);
    h ^= tok.decode(ids, false).size() ^ tok.decode(ids, true).size();
    for (const auto& id : {tok.bos_id(), tok.eos_id(), tok.pad_id()}) h ^= id.value_or(-1);
    zo::fuzz::sink = h;
  } catch (const zo::Error&) {
  }
  return 0;
}
