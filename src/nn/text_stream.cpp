#include "zo/nn/text_stream.hpp"

#include <string_view>

namespace zo::nn {

namespace {
constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
}

TextStream::TextStream(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string TextStream::push(std::int32_t id) {
  ids_.push_back(id);
  // The whole sequence is decoded again: decoders merge bytes and strip spaces across token
  // boundaries, so a token's text is only defined within the sequence. Generation is bounded by the
  // model's max_position_embeddings, which bounds this cost too.
  const std::string text = tokenizer_->decode(ids_, skip_special_tokens_);
  std::size_t end = text.size();
  while (end >= replacement.size() && std::string_view(text).substr(end - replacement.size(), replacement.size()) == replacement)
    end -= replacement.size();
  if (end <= emitted_) return {};
  std::string piece = text.substr(emitted_, end - emitted_);
  emitted_ = end;
  return piece;
}

std::string TextStream::finish() {
  const std::string text = tokenizer_->decode(ids_, skip_special_tokens_);
  if (text.size() <= emitted_) return {};
  std::string rest = text.substr(emitted_);
  emitted_ = text.size();
  return rest;
}

}  // namespace zo::nn
