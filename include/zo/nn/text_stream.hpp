// Generated tokens turned into text as they come, for printing while a model generates.
//
// push(id) returns the text that the new token completes, so that the pieces printed so far,
// concatenated, are always a prefix of tokenizer.decode(every id pushed) made of whole UTF-8
// characters: a token that ends inside a character (byte-level BPE splits multi-byte characters
// across tokens, byte-fallback tokens carry single bytes) decodes to a trailing U+FFFD, which is held
// back until a later token completes the character. finish() returns what is still held (decoded as
// decode() decodes it, an unfinished character as U+FFFD). The pieces of every push and finish,
// concatenated, equal decode(ids) for the decoders Tokenizer supports (each only ever extends the
// text of a longer id sequence).
#pragma once

#include "zo/nn/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace zo::nn {

class TextStream {
 public:
  // `tokenizer` must outlive the stream.
  explicit TextStream(const Tokenizer& tokenizer, bool skip_special_tokens = true);

  std::string push(std::int32_t id);  // the newly final text (may be empty)
  std::string finish();               // the held-back rest
  const std::vector<std::int32_t>& ids() const { return ids_; }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::vector<std::int32_t> ids_;
  std::size_t emitted_ = 0;  // bytes of decode(ids_) returned so far
};

}  // namespace zo::nn
