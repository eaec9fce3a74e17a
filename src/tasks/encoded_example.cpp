#include "zo/tasks/encoded_example.hpp"

#include "zo/util/error.hpp"

namespace zo::tasks {

EncodedExample encode_example(const Example& example, const TextEncoder& encode, std::int64_t max_tokens,
                              std::int64_t keep_last) {
  if (max_tokens < 2) fail("option 'max_tokens' = {}: must be >= 2", max_tokens);
  if (keep_last < 0 || keep_last >= max_tokens) {
    fail("option 'keep_last' = {}: must be in [0, max_tokens − 1 = {}] (0: keep the last max_tokens tokens)", keep_last,
         max_tokens - 1);
  }
  EncodedExample out;
  out.gold = example.gold;
  out.where = example.where;
  const std::int64_t context_length = static_cast<std::int64_t>(encode(example.context).size());
  for (std::size_t c = 0; c < example.continuations.size(); ++c) {
    std::vector<std::int32_t> ids = encode(example.full(c));
    const std::int64_t option = static_cast<std::int64_t>(ids.size()) - context_length;
    if (option < 1) {
      fail("{}: candidate {} ('{}') adds no token to the context ({} tokens with it, {} without)", example.where, c,
           example.continuations[c], ids.size(), context_length);
    }
    if (option + 1 > max_tokens) {
      fail("{}: candidate {} has {} tokens, more than max_tokens − 1 = {}", example.where, c, option, max_tokens - 1);
    }
    if (keep_last > 0 && option > keep_last) {
      fail("{}: candidate {} has {} tokens, more than keep_last = {}", example.where, c, option, keep_last);
    }
    if (static_cast<std::int64_t>(ids.size()) > max_tokens) {
      if (keep_last > 0) {
        ids.erase(ids.begin() + (max_tokens - keep_last), ids.end() - keep_last);
      } else {
        ids.erase(ids.begin(), ids.end() - max_tokens);
      }
    }
    out.sequences.push_back(std::move(ids));
    out.option_lengths.push_back(static_cast<std::int32_t>(option));
  }
  return out;
}

}  // namespace zo::tasks
