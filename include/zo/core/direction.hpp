// Structured directions: which coordinates move at a step, and by how much (docs/design.md, docs/methods.md §3).
// A direction is defined by (options, the ParamSet's names/shapes/blocks, seed, step) alone.
//
// - dense:    every moving coordinate, z ~ N(0, I) (MeZO).
// - sparse:   each param is cut into spans of kSparseSpan elements; span c = [c·S, c·S + S) keeps
//             the positions drawn by geometric gaps from the mask stream:
//               pos₀ = −1,  pos_{j+1} = pos_j + 1 + gap(seed, t, Stream::mask, c·S + j, keep)
//             (fill_gaps), kept while pos_{j+1} < S, so each coordinate is kept with probability
//             `keep`, independently of the others, and a span costs ~keep·S draws. The j-th kept
//             coordinate of span c takes value element c·S + j of the value stream. Kept values are
//             scaled by 1/sqrt(keep) so that E[z zᵀ] = I (the estimate stays unbiased). Spans are
//             independent: any range of a param is generated from the spans it meets alone.
//             With granule g > 1 the draws walk the span's S/g runs of g consecutive coordinates
//             instead (pos counts runs, kept while pos_{j+1} < S/g) and a kept run keeps its g
//             coordinates: each coordinate is still kept with probability `keep` and E[z zᵀ] = I,
//             but coordinates of one run are kept or dropped together. g = 16 is a 64-byte cache
//             line of float32, so a pass at keep p touches ~p of the memory a dense pass does
//             (g = 1: ~1 − (1 − p)^16 of its cache lines). g = 1 is the stream of z-stream version 2.
// - low_rank: a 2-D param W (m×n) moves by Z = U Vᵀ / sqrt(r), U (m×r), V (n×r) ~ N(0, 1) drawn from
//             the seed (streams low_rank_u / low_rank_v); E[Z⊙Z] = 1 elementwise. Params that are not
//             2-D move densely. Z is never materialised.
// - block-coordinate: `order` != all picks `blocks_per_step` blocks a step; only they move:
//     cyclic      step t moves blocks (t·k … t·k+k−1) mod B
//     permutation a fresh random permutation of the blocks each epoch of ceil(B/k) steps
//     uniform     k distinct blocks uniformly at random each step
//     weighted    k distinct blocks drawn with probability ∝ block_weights (default ∝ numel)
//   Block-coordinate composes with every kind (block-coordinate over sparse or low-rank).
// - distribution: gaussian N(0,1); rademacher ±1; sphere = gaussian rescaled so ‖z‖ = sqrt(d) over the
//   moving set (d = moving_numel), which keeps E[z zᵀ] = I. Sparse and low-rank use gaussian or
//   rademacher values; sphere is for dense (validate() says so otherwise).
#pragma once

#include "zo/core/params.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace zo {

// S of the sparse spans (elements); fixed forever under a z-stream version (random.hpp).
inline constexpr std::int64_t kSparseSpan = 2048;
// The largest sparse granule (a power of 2 that divides kSparseSpan).
inline constexpr int kMaxSparseGranule = 64;

enum class DirectionKind { dense, sparse, low_rank };
enum class Distribution { gaussian, rademacher, sphere };
enum class BlockOrder { all, cyclic, permutation, uniform, weighted };

std::string_view to_string(DirectionKind);
std::string_view to_string(Distribution);
std::string_view to_string(BlockOrder);
// Parse the names to_string gives ("dense", "sparse", "low-rank"; "gaussian", "rademacher", "sphere";
// "all", "cyclic", "permutation", "uniform", "weighted"); throw zo::Error listing the valid names.
DirectionKind direction_kind_from_string(std::string_view);
Distribution distribution_from_string(std::string_view);
BlockOrder block_order_from_string(std::string_view);

struct DirectionOptions {
  DirectionKind kind = DirectionKind::dense;
  Distribution distribution = Distribution::gaussian;
  double keep = 0.1;                   // sparse: kept fraction p, in (0, 1]
  int granule = 1;                     // sparse: coordinates kept together, a power of 2 in [1, 64]
  int rank = 4;                        // low_rank: r >= 1
  BlockOrder order = BlockOrder::all;  // all: every block moves every step
  int blocks_per_step = 1;             // k, in [1, number of blocks], for order != all
  std::vector<double> block_weights{}; // weighted: one per block, >= 0, finite, not all 0; empty = ∝ numel

  // Throws zo::Error naming the field, its value and the rule.
  void validate(std::size_t num_blocks) const;
};

// One probe direction: its seed and the factor its raw values are multiplied by (1, except for sphere:
// sqrt(d)/‖z_raw‖ over the moving set).
struct Draw {
  std::uint64_t seed = 0;
  float scale = 1.0f;
};

class Direction {
 public:
  // Validates options against params.blocks(); throws zo::Error.
  Direction(DirectionOptions options, const ParamSet& params);

  const DirectionOptions& options() const { return options_; }

  // Blocks that move at `step` of a run seeded `run_seed`, sorted ascending. A pure function of
  // (options, number of blocks and their numel, run_seed, step). order == all returns every block.
  std::vector<std::uint32_t> active_blocks(std::uint64_t run_seed, std::int64_t step) const;

  // The draw for `seed` over `blocks` (computes the sphere scale by regenerating z; reads no params).
  Draw draw(const ParamSet& params, std::span<const std::uint32_t> blocks, std::uint64_t seed) const;

  // Number of coordinates the blocks hold (for sparse: all of them, kept or not).
  std::int64_t moving_numel(const ParamSet& params, std::span<const std::uint32_t> blocks) const;

  // z for param p, elements [begin, begin + n), including draw.scale; 0 where sparse drops. The
  // reference definition the fused kernels must match to float rounding.
  void fill(const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n, float* z) const;

 private:
  DirectionOptions options_;
  std::vector<std::int64_t> block_numel_;
};

}  // namespace zo
