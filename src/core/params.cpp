// ParamSet: registration checks and block partitions.
#include "zo/core/params.hpp"

#include "zo/util/error.hpp"
#include "zo/util/regex_limits.hpp"
#include "zo/core/random.hpp"

#include <algorithm>
#include <limits>
#include <map>
// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> in sanitizer builds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

namespace zo {

std::size_t ParamSet::add(std::string name, DType dtype, std::vector<std::int64_t> shape, void* data) {
  if (name.empty()) fail("param name '': must not be empty");
  if (find(name) != nullptr) fail("param '{}': name already registered", name);
  const std::uint32_t key = tensor_key(name);
  for (const Param& other : params_) {
    if (other.key == key) {
      fail("param '{}': tensor_key {:#010x} collides with param '{}'; rename one of them", name, key, other.name);
    }
  }
  if (dtype != DType::f32 && dtype != DType::f16 && dtype != DType::bf16) {
    fail("param '{}': dtype {} is not f32, f16 or bf16", name, int(dtype));
  }
  std::int64_t numel = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) fail("param '{}': shape[{}] = {}: every dimension must be > 0", name, d, shape[d]);
    if (numel > std::numeric_limits<std::int64_t>::max() / shape[d]) {
      fail("param '{}': shape has more than 2^63 elements", name);
    }
    numel *= shape[d];
  }
  if (data == nullptr) fail("param '{}': data is a null pointer", name);

  Param p;
  p.name = std::move(name);
  p.dtype = dtype;
  p.shape = std::move(shape);
  p.data = data;
  p.key = key;
  p.numel = numel;
  params_.push_back(std::move(p));
  const std::size_t index = params_.size() - 1;
  blocks_.push_back(Block{params_.back().name, {index}, params_.back().numel});
  block_of_.push_back(blocks_.size() - 1);
  return index;
}

const Param* ParamSet::find(std::string_view name) const {
  for (const Param& p : params_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::int64_t ParamSet::numel() const {
  std::int64_t total = 0;
  for (const Param& p : params_) total += p.numel;
  return total;
}

void ParamSet::block_per_param() {
  blocks_.clear();
  for (std::size_t i = 0; i < params_.size(); ++i) blocks_.push_back(Block{params_[i].name, {i}, 0});
  index_blocks();
}

void ParamSet::block_by_pattern(const std::string& pattern) {
  check_pattern(pattern, "block pattern");
  std::regex re;
  try {
    re = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    fail("block pattern '{}': not a valid ECMAScript regex ({})", pattern, e.what());
  }
  std::vector<Block> blocks;
  std::map<std::string, std::size_t> by_group;  // group text -> index in blocks
  for (std::size_t i = 0; i < params_.size(); ++i) {
    std::smatch match;
    if (!std::regex_search(params_[i].name, match, re)) {
      blocks.push_back(Block{params_[i].name, {i}, 0});
      continue;
    }
    const bool has_group = match.size() > 1 && match[1].matched;
    const std::string group = has_group ? match[1].str() : match[0].str();
    auto [it, inserted] = by_group.try_emplace(group, blocks.size());
    if (inserted) {
      blocks.push_back(Block{match[0].str(), {i}, 0});
    } else {
      blocks[it->second].params.push_back(i);
    }
  }
  blocks_ = std::move(blocks);
  index_blocks();
}

void ParamSet::set_blocks(std::vector<Block> blocks) {
  std::vector<std::size_t> owner(params_.size(), std::numeric_limits<std::size_t>::max());
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    if (blocks[b].params.empty()) fail("block '{}': has no params; every block needs at least one", blocks[b].name);
    for (const std::size_t i : blocks[b].params) {
      if (i >= params_.size()) {
        fail("block '{}': param index {} out of range (the set has {} params)", blocks[b].name, i, params_.size());
      }
      if (owner[i] != std::numeric_limits<std::size_t>::max()) {
        fail("param '{}': in blocks '{}' and '{}'; each param must be in exactly one block", params_[i].name,
             blocks[owner[i]].name, blocks[b].name);
      }
      owner[i] = b;
    }
  }
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (owner[i] == std::numeric_limits<std::size_t>::max()) {
      fail("param '{}': in no block; each param must be in exactly one block", params_[i].name);
    }
  }
  for (Block& block : blocks) std::sort(block.params.begin(), block.params.end());
  blocks_ = std::move(blocks);
  index_blocks();
}

void ParamSet::index_blocks() {
  block_of_.assign(params_.size(), 0);
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    blocks_[b].numel = 0;
    for (const std::size_t i : blocks_[b].params) {
      blocks_[b].numel += params_[i].numel;
      block_of_[i] = b;
    }
  }
}

}  // namespace zo
