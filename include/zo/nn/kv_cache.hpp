// The keys and values of the positions of one sequence that a Model has already run, per layer, so
// that generation runs each new token through the layers once instead of re-running the whole
// context (Model::forward_cached).
//
// Layout: for each layer l, keys(l) and values(l) hold length() rows of NKV × HD floats, row p being
// position p of the sequence, as the attention of layer l sees them (LLaMA keys with their rotary
// position applied). Memory grows with the sequence, up to L × 2 × max_position_embeddings × NKV ×
// HD × 4 bytes (bytes() says what is held now).
#pragma once

#include "zo/nn/model.hpp"

#include <cstdint>
#include <vector>

namespace zo::nn {

class KvCache {
 public:
  // An empty cache (length 0) shaped for `config`: its layers, key/value heads, head dimension, and
  // max_position_embeddings as the capacity.
  explicit KvCache(const ModelConfig& config);

  std::int64_t length() const { return length_; }        // positions held
  std::int64_t capacity() const { return capacity_; }    // max_position_embeddings
  std::int64_t layers() const { return std::int64_t(keys_.size()); }
  std::int64_t row_size() const { return row_; }         // NKV × HD
  std::size_t bytes() const;                              // memory the cache holds now

  // Rows [0, length()) of layer l: (length(), NKV, HD) row-major.
  const float* keys(std::int64_t l) const { return keys_[std::size_t(l)].data(); }
  const float* values(std::int64_t l) const { return values_[std::size_t(l)].data(); }

  // Room for n more rows after length() in every layer (throws zo::Error naming
  // max_position_embeddings when length() + n > capacity()); returns nothing, so that the
  // pointers below are valid until the next reserve.
  void reserve_more(std::int64_t n);
  // Writable rows [length(), length() + n) of layer l, after reserve_more(n).
  float* next_keys(std::int64_t l) { return keys_[std::size_t(l)].data() + length_ * row_; }
  float* next_values(std::int64_t l) { return values_[std::size_t(l)].data() + length_ * row_; }
  // Marks those n rows as held (length() += n), once every layer has written them.
  void commit(std::int64_t n);

  void clear() { length_ = 0; }  // forget the sequence, keep the memory

 private:
  std::vector<std::vector<float>> keys_, values_;
  std::int64_t row_ = 0, capacity_ = 0, length_ = 0;
};

}  // namespace zo::nn
