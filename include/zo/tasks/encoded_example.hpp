// Examples as token sequences, the way MeZO encodes them (large_models/utils.py, encode_prompt):
// for candidate c the sequence is encode(context + continuation[c]) and the candidate's tokens are its
// last option_length[c] tokens, where option_length[c] = |encode(full)| − |encode(context)|. Sequences
// longer than max_tokens keep their last max_tokens tokens (MeZO truncates on the left), or, with
// keep_last = N > 0, their first max_tokens − N tokens and their last N: the prompt's closing question
// and the candidate survive and a long text keeps its start (an e-mail's subject) rather than its end.
#pragma once

#include "zo/tasks/prompt.hpp"

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace zo::tasks {

// Text → token ids (e.g. a bound zo::nn::Tokenizer::encode with special tokens).
using TextEncoder = std::function<std::vector<std::int32_t>(std::string_view)>;

struct EncodedExample {
  std::vector<std::vector<std::int32_t>> sequences;  // per candidate: the full token ids
  std::vector<std::int32_t> option_lengths;          // per candidate: trailing tokens that are the candidate's
  int gold = 0;
  std::string where;  // "file:line"
};

// Throws zo::Error naming the record when a candidate adds no token (|full| <= |context|), or when
// max_tokens < 2 or is smaller than a candidate's own tokens + 1 (nothing left to condition on), or
// keep_last is negative, >= max_tokens, or (when > 0) shorter than a candidate's tokens.
EncodedExample encode_example(const Example& example, const TextEncoder& encode, std::int64_t max_tokens = 2048,
                              std::int64_t keep_last = 0);

}  // namespace zo::tasks
