// Parameters as named tensors viewed in place, and their partition into blocks.
//
// zo never owns parameter memory: a model (or a user's vector) owns it, and a ParamSet holds views
// (name, dtype, shape, pointer). Blocks group parameters for block-coordinate directions and for
// per-block optimizer state; a block is the unit a selector picks.
#pragma once

#include "zo/core/dtype.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo {

class Backend;

struct Param {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;  // row-major; a 2-D shape (m, n) is what low-rank directions use
  void* data = nullptr;             // numel() elements of dtype, owned elsewhere
  std::uint32_t key = 0;            // tensor_key(name), the RNG's identity of this tensor
  std::int64_t numel = 0;
};

struct Block {
  std::string name;                 // e.g. "layers.3" or the parameter's own name
  std::vector<std::size_t> params;  // indices into ParamSet::params(), in registration order
  std::int64_t numel = 0;
};

class ParamSet {
 public:
  // Registers a view. Throws zo::Error on an empty or duplicate name, a tensor_key collision with
  // another name, a non-positive dimension, or a null pointer. New params join a block of their own
  // until a partition is set. Returns the param's index.
  std::size_t add(std::string name, DType dtype, std::vector<std::int64_t> shape, void* data);

  std::span<const Param> params() const { return params_; }
  const Param& param(std::size_t i) const { return params_.at(i); }
  const Param* find(std::string_view name) const;  // nullptr when absent
  std::int64_t numel() const;                      // all params

  // Partitions: each replaces the current one.
  void block_per_param();  // one block per parameter (the default)
  // Params whose name matches the ECMAScript regex `pattern` are grouped by the text of its first
  // capture group (or the whole match when it has none): "layers\\.(\\d+)\\." gives one block per
  // layer, named by the match ("layers.3."). Params that do not match get a block of their own.
  // Block order follows each block's first param in registration order. Throws zo::Error naming
  // the pattern when it is not a valid regex.
  void block_by_pattern(const std::string& pattern);
  // Explicit blocks; every param must be in exactly one. Throws zo::Error naming the param otherwise.
  void set_blocks(std::vector<Block> blocks);

  std::span<const Block> blocks() const { return blocks_; }
  // Index of the block holding param i.
  std::size_t block_of(std::size_t param_index) const { return block_of_.at(param_index); }

  // Where the params' data lives (backend.hpp): nullptr (the default) is host memory; otherwise every
  // param's data is in that backend's memory, which must outlive the ParamSet's use.
  void set_backend(const Backend* backend) { backend_ = backend; }
  const Backend* backend() const { return backend_; }

 private:
  void index_blocks();
  std::vector<Param> params_;
  std::vector<Block> blocks_;
  std::vector<std::size_t> block_of_;
  const Backend* backend_ = nullptr;
};

}  // namespace zo
