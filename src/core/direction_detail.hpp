// Internal: how a direction's values are generated for one param range. Direction::fill and the
// fused kernels both call generate(), so the kernels' z equals the reference fill bit for bit.
#pragma once

#include "zo/core/direction.hpp"

#include <cstdint>
#include <vector>

namespace zo::detail {

// Slack after a sparse span's indices: positions are computed a whole batch of gaps at a time.
inline constexpr std::int64_t kBatchElementsForSparse = 128;

// The factors of a low-rank direction on a 2-D param (m × n): rows [row0, row0 + u.size()/rank) of
// U, pre-multiplied by draw.scale / sqrt(rank), and all of Vᵀ (rank × n).
struct LowRankFactors {
  std::int64_t row0 = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  int rank = 0;
  std::vector<float> u;   // rows × rank
  std::vector<float> vt;  // rank × cols
};

// True when p moves by a low-rank product under these options (kind low_rank and p 2-D).
bool is_low_rank(const DirectionOptions& options, const Param& p);

// Factors for rows [row0, row1) of p.
void make_low_rank(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t row0,
                   std::int64_t row1, LowRankFactors& out);

// The kept coordinates of sparse span `span` of p (direction.hpp): index[k] (within the span,
// ascending) and value[k] (draw.scale / sqrt(keep) included), k < count. With granule g > 1 they
// come in run_count runs of g consecutive coordinates: run u starts at coordinate runs[u] and holds
// index[u·g … u·g + g − 1] = runs[u] … runs[u] + g − 1, so a pass can update a run as one vector.
struct SparseSpan {
  std::int64_t count = 0;
  alignas(64) std::int32_t index[kSparseSpan + kBatchElementsForSparse];
  alignas(64) float value[kSparseSpan];
  std::int64_t run_count = 0;  // granule > 1 only
  alignas(64) std::int32_t runs[kSparseSpan + kBatchElementsForSparse];
};
void sparse_span(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span, SparseSpan& out);
// sparse_span in its two halves: the kept positions (count, index, run_count, runs), then their values
// (value). A pass calls them apart to start loading the kept lines of θ while the values are drawn.
void sparse_positions(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span,
                      SparseSpan& out);
void sparse_values(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span,
                   SparseSpan& out);

// z for elements [begin, begin + n) of p (draw.scale included). `factors` must cover the rows of
// the range when is_low_rank(options, p); it is ignored otherwise.
void generate(const DirectionOptions& options, const Param& p, const Draw& draw, const LowRankFactors* factors,
              std::int64_t begin, std::int64_t n, float* z);

// Sum of squares of the raw (unscaled) gaussian values of p, in double, summed chunk by chunk in
// a fixed order (independent of the thread count).
double raw_sum_of_squares(const Param& p, std::uint64_t seed);

}  // namespace zo::detail
