#include "zo/nn/kv_cache.hpp"

#include "zo/util/error.hpp"

#include <algorithm>

namespace zo::nn {

KvCache::KvCache(const ModelConfig& config)
    : keys_(std::size_t(config.num_layers)),
      values_(std::size_t(config.num_layers)),
      row_(config.num_kv_heads * config.head_dim),
      capacity_(config.max_positions) {}

std::size_t KvCache::bytes() const {
  std::size_t n = 0;
  for (std::size_t l = 0; l < keys_.size(); ++l) n += (keys_[l].capacity() + values_[l].capacity()) * sizeof(float);
  return n;
}

void KvCache::reserve_more(std::int64_t n) {
  if (n < 0) fail("KV cache: {} rows to reserve: must be >= 0", n);
  if (length_ + n > capacity_)
    fail("KV cache: {} positions held + {} new = {} exceeds the model's max_position_embeddings = {}", length_, n,
         length_ + n, capacity_);
  const auto need = std::size_t((length_ + n) * row_);
  if (keys_.empty() || keys_[0].size() >= need) return;
  // Grow by doubling (capped at the capacity): generation appends one row at a time, and a resize per
  // token would copy the whole cache each time.
  const auto grown = std::size_t(std::min<std::int64_t>(capacity_, std::max<std::int64_t>(length_ + n, 2 * length_)) * row_);
  for (std::size_t l = 0; l < keys_.size(); ++l) {
    keys_[l].resize(std::max(need, grown));
    values_[l].resize(std::max(need, grown));
  }
}

void KvCache::commit(std::int64_t n) {
  const std::size_t reserved = keys_.empty() || row_ == 0 ? std::size_t(capacity_) : keys_[0].size() / std::size_t(row_);
  if (n < 0 || std::size_t(length_ + n) > reserved)
    fail("KV cache: commit of {} rows after {}: {} rows are reserved", n, length_, reserved);
  length_ += n;
}

}  // namespace zo::nn
