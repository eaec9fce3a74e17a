// BPE as Hugging Face tokenizers' models::bpe does it (model.rs merge_word, word.rs merge_all):
// characters (with byte fallback and unknown-token fusion) become symbols, then a priority queue
// applies the lowest-ranked merge first, leftmost first among equal ranks.
#include <algorithm>
#include <queue>

#include "tokenizer_internal.hpp"
#include "tokenizer_unicode.hpp"
#include "zo/util/error.hpp"

namespace zo::nn::tokenizer_detail {
namespace {

std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

struct Symbol {
  std::int32_t id;
  std::int64_t prev;
  std::int64_t next;
  std::size_t len;  // bytes; 0 marks a symbol merged into its left neighbour
};

struct QueuedMerge {
  std::size_t pos;
  std::uint32_t rank;
  std::int32_t new_id;
  // std::priority_queue pops the largest: make that the lowest rank, then the lowest position.
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(StringMap<std::int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   Options options, const std::string& where)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  for (const auto& [token, id] : vocab_) {
    vocab_r_[id] = token;
    max_id_ = std::max(max_id_, id);
  }
  const std::size_t prefix_len = options_.continuing_subword_prefix.size();
  auto id_of = [&](const std::string& token) {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) fail("{}: field 'model.merges': token '{}' is not in the vocabulary", where, token);
    return it->second;
  };
  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const std::int32_t a_id = id_of(a);
    const std::int32_t b_id = id_of(b);
    if (b.size() < prefix_len) {
      fail("{}: field 'model.merges': merge '{} {}' is shorter than continuing_subword_prefix", where, a, b);
    }
    const std::int32_t new_id = id_of(a + b.substr(prefix_len));
    // Later duplicates replace earlier ones, as in the Rust HashMap collect.
    merges_[pair_key(a_id, b_id)] = MergeTarget{static_cast<std::uint32_t>(rank), new_id};
  }
  if (options_.unk_token) {
    auto it = vocab_.find(*options_.unk_token);
    if (it != vocab_.end()) unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

BpeModel::BpeModel(BpeModel&& other) noexcept
    : vocab_(std::move(other.vocab_)),
      vocab_r_(std::move(other.vocab_r_)),
      merges_(std::move(other.merges_)),
      options_(std::move(other.options_)),
      unk_id_(other.unk_id_),
      max_id_(other.max_id_) {
  std::copy(std::begin(other.byte_ids_), std::end(other.byte_ids_), std::begin(byte_ids_));
}

std::optional<std::int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(std::int32_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

const BpeModel::MergeTarget* BpeModel::find_merge(std::int32_t left, std::int32_t right) const {
  auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

std::vector<std::int32_t> BpeModel::merge_word(std::string_view word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](std::int32_t id, std::size_t len) {
    const auto n = static_cast<std::int64_t>(symbols.size());
    symbols.push_back(Symbol{id, n - 1, -1, len});
    if (n > 0) symbols[n - 1].next = n;
  };
  bool unk = false;  // an unknown token is pending, covering unk_len bytes
  std::size_t unk_len = 0;
  std::string key;
  for (std::size_t i = 0; i < word.size();) {
    const std::size_t begin = i;
    unicode::next_code_point(word, i);
    const std::string_view ch = word.substr(begin, i - begin);
    key.assign(ch);
    if (begin > 0) key.insert(0, options_.continuing_subword_prefix);
    if (i == word.size()) key += options_.end_of_word_suffix;
    if (auto it = vocab_.find(key); it != vocab_.end()) {
      if (unk) {
        add(*unk_id_, unk_len);
        unk = false;
      }
      add(it->second, ch.size());
      continue;
    }
    if (options_.byte_fallback) {
      // tokenizers looks up the bytes of the prefixed / suffixed string, and adds them without
      // flushing a pending unknown token.
      const bool all = std::all_of(key.begin(), key.end(), [&](char c) { return byte_ids_[static_cast<std::uint8_t>(c)] >= 0; });
      if (all) {
        for (char c : key) add(byte_ids_[static_cast<std::uint8_t>(c)], 1);
        continue;
      }
    }
    if (!unk_id_) {
      if (options_.unk_token) fail("tokenizer: unk_token '{}' is not in the vocabulary", *options_.unk_token);
      fail("tokenizer: no token for '{}' and the model has no unk_token", key);
    }
    if (unk && options_.fuse_unk) {
      unk_len += ch.size();
    } else {
      if (unk) add(*unk_id_, unk_len);
      unk = true;
      unk_len = ch.size();
    }
  }
  if (unk) add(*unk_id_, unk_len);

  std::priority_queue<QueuedMerge> queue;
  for (std::size_t p = 0; p + 1 < symbols.size(); ++p) {
    if (const MergeTarget* m = find_merge(symbols[p].id, symbols[p + 1].id)) queue.push({p, m->rank, m->new_id});
  }
  while (!queue.empty()) {
    const QueuedMerge top = queue.top();
    queue.pop();
    Symbol& current = symbols[top.pos];
    if (current.len == 0 || current.next == -1) continue;
    const auto next_pos = static_cast<std::size_t>(current.next);
    const Symbol right = symbols[next_pos];
    // A stale entry: the pair at this position changed since it was queued (tokenizers compares
    // only the merged id).
    const MergeTarget* still = find_merge(current.id, right.id);
    if (still == nullptr || still->new_id != top.new_id) continue;
    current.id = top.new_id;
    current.len += right.len;
    current.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next > -1 && static_cast<std::size_t>(right.next) < symbols.size()) {
      symbols[static_cast<std::size_t>(right.next)].prev = static_cast<std::int64_t>(top.pos);
    }
    if (current.prev >= 0) {
      const auto prev = static_cast<std::size_t>(current.prev);
      if (const MergeTarget* m = find_merge(symbols[prev].id, current.id)) queue.push({prev, m->rank, m->new_id});
    }
    if (current.next >= 0 && static_cast<std::size_t>(current.next) < symbols.size()) {
      if (const MergeTarget* m = find_merge(current.id, symbols[static_cast<std::size_t>(current.next)].id)) {
        queue.push({top.pos, m->rank, m->new_id});
      }
    }
  }
  std::vector<std::int32_t> ids;
  for (const Symbol& s : symbols) {
    if (s.len != 0) ids.push_back(s.id);
  }
  return ids;
}

void BpeModel::tokenize(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int32_t> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  if (word.size() >= kCacheMaxWordBytes) return;  // whole texts (no pre-tokenizer) are not kept
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kCacheCapacity) cache_.clear();
  cache_.emplace(std::string(word), std::move(ids));
}

}  // namespace zo::nn::tokenizer_detail
