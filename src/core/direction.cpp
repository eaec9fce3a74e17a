// Directions: names, validation, block selectors, and the reference generation of z.
#include "zo/core/direction.hpp"

#include "direction_detail.hpp"
#include "random_batch.hpp"
#include "zo/util/error.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/random.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace zo {

namespace {

// derive_seed purposes of the selectors (arbitrary distinct constants, fixed forever: changing one
// changes every block-coordinate run).
constexpr std::uint32_t kPurposePermutation = 0x7065726du;  // "perm"
constexpr std::uint32_t kPurposeUniform = 0x756e6966u;      // "unif"
constexpr std::uint32_t kPurposeWeighted = 0x77676874u;     // "wght"

RandomStream selector_stream(std::uint64_t run_seed, std::uint64_t index, std::uint32_t purpose) {
  return RandomStream{derive_seed(run_seed, index, purpose), 0, Stream::selector};
}

// An integer in [0, n) from a 32-bit word (multiply-shift; bias below n / 2^32).
std::uint32_t bounded(std::uint32_t word, std::uint32_t n) {
  return std::uint32_t((std::uint64_t(word) * n) >> 32);
}

#ifdef __FMA__
inline float mul_add(float a, float b, float c) { return std::fma(a, b, c); }
#else
inline float mul_add(float a, float b, float c) { return a * b + c; }
#endif

// A double in [0, 1) from two words (53 bits).
double unit_double(std::uint32_t hi, std::uint32_t lo) {
  return double(((std::uint64_t(hi) << 32) | lo) >> 11) * 0x1p-53;
}

}  // namespace

std::string_view to_string(DirectionKind kind) {
  switch (kind) {
    case DirectionKind::dense: return "dense";
    case DirectionKind::sparse: return "sparse";
    case DirectionKind::low_rank: return "low-rank";
  }
  fail("direction kind {}: not a valid DirectionKind", int(kind));
}

std::string_view to_string(Distribution distribution) {
  switch (distribution) {
    case Distribution::gaussian: return "gaussian";
    case Distribution::rademacher: return "rademacher";
    case Distribution::sphere: return "sphere";
  }
  fail("distribution {}: not a valid Distribution", int(distribution));
}

std::string_view to_string(BlockOrder order) {
  switch (order) {
    case BlockOrder::all: return "all";
    case BlockOrder::cyclic: return "cyclic";
    case BlockOrder::permutation: return "permutation";
    case BlockOrder::uniform: return "uniform";
    case BlockOrder::weighted: return "weighted";
  }
  fail("block order {}: not a valid BlockOrder", int(order));
}

DirectionKind direction_kind_from_string(std::string_view name) {
  for (auto kind : {DirectionKind::dense, DirectionKind::sparse, DirectionKind::low_rank}) {
    if (name == to_string(kind)) return kind;
  }
  fail("direction kind '{}': unknown; valid names are dense, sparse, low-rank", name);
}

Distribution distribution_from_string(std::string_view name) {
  for (auto d : {Distribution::gaussian, Distribution::rademacher, Distribution::sphere}) {
    if (name == to_string(d)) return d;
  }
  fail("distribution '{}': unknown; valid names are gaussian, rademacher, sphere", name);
}

BlockOrder block_order_from_string(std::string_view name) {
  for (auto order : {BlockOrder::all, BlockOrder::cyclic, BlockOrder::permutation, BlockOrder::uniform,
                     BlockOrder::weighted}) {
    if (name == to_string(order)) return order;
  }
  fail("block order '{}': unknown; valid names are all, cyclic, permutation, uniform, weighted", name);
}

void DirectionOptions::validate(std::size_t num_blocks) const {
  to_string(kind);  // throws on values outside the enum
  to_string(distribution);
  to_string(order);
  if (kind == DirectionKind::sparse && !(keep > 0.0 && keep <= 1.0)) {
    fail("direction option 'keep' = {}: must be in (0, 1]", keep);
  }
  if (granule < 1 || granule > kMaxSparseGranule || (granule & (granule - 1)) != 0) {
    fail("direction option 'granule' = {}: must be a power of 2 in [1, {}]", granule, kMaxSparseGranule);
  }
  if (kind == DirectionKind::low_rank && rank < 1) fail("direction option 'rank' = {}: must be >= 1", rank);
  if (distribution == Distribution::sphere && kind != DirectionKind::dense) {
    fail("direction option 'distribution' = sphere: only valid with kind = dense (kind = {})", to_string(kind));
  }
  if (order == BlockOrder::all) return;
  if (blocks_per_step < 1 || std::size_t(blocks_per_step) > num_blocks) {
    fail("direction option 'blocks_per_step' = {}: must be in [1, {}] (the number of blocks) for order = {}",
         blocks_per_step, num_blocks, to_string(order));
  }
  if (order == BlockOrder::weighted && !block_weights.empty()) {
    if (block_weights.size() != num_blocks) {
      fail("direction option 'block_weights' has {} values: must have one per block ({})", block_weights.size(),
           num_blocks);
    }
    int positive = 0;
    for (std::size_t b = 0; b < block_weights.size(); ++b) {
      const double w = block_weights[b];
      if (!std::isfinite(w) || w < 0.0) fail("direction option 'block_weights[{}]' = {}: must be finite and >= 0", b, w);
      positive += w > 0.0 ? 1 : 0;
    }
    if (positive < blocks_per_step) {
      fail("direction option 'block_weights' has {} positive values: must have at least blocks_per_step = {}",
           positive, blocks_per_step);
    }
  }
}

Direction::Direction(DirectionOptions options, const ParamSet& params) : options_(std::move(options)) {
  options_.validate(params.blocks().size());
  for (const Block& block : params.blocks()) block_numel_.push_back(block.numel);
}

std::vector<std::uint32_t> Direction::active_blocks(std::uint64_t run_seed, std::int64_t step) const {
  if (step < 0) fail("active_blocks: step = {}: must be >= 0", step);
  const auto num_blocks = std::uint32_t(block_numel_.size());
  std::vector<std::uint32_t> active;
  if (options_.order == BlockOrder::all) {
    active.resize(num_blocks);
    std::iota(active.begin(), active.end(), 0u);
    return active;
  }
  const auto k = std::uint32_t(options_.blocks_per_step);
  const auto ustep = std::uint64_t(step);
  switch (options_.order) {
    case BlockOrder::all:
      break;
    case BlockOrder::cyclic: {
      const std::uint64_t first = (ustep % num_blocks) * k % num_blocks;
      for (std::uint32_t j = 0; j < k; ++j) active.push_back(std::uint32_t((first + j) % num_blocks));
      break;
    }
    case BlockOrder::permutation: {
      // Epoch e uses the Fisher–Yates shuffle of 0..B−1 drawn from (run_seed, e); step p of the epoch
      // takes positions [p·k, p·k + k) of it (the last step of an epoch may take fewer).
      const std::uint64_t epoch_steps = (num_blocks + k - 1) / k;
      const std::uint64_t epoch = ustep / epoch_steps;
      const std::uint64_t position = ustep % epoch_steps;
      const RandomStream stream = selector_stream(run_seed, epoch, kPurposePermutation);
      std::vector<std::uint32_t> perm(num_blocks);
      std::iota(perm.begin(), perm.end(), 0u);
      for (std::uint32_t i = num_blocks - 1; i >= 1; --i) {
        const std::uint32_t j = bounded(bits_at(stream, num_blocks - 1 - i), i + 1);
        std::swap(perm[i], perm[j]);
      }
      const std::uint64_t begin = position * k;
      const std::uint64_t end = std::min<std::uint64_t>(begin + k, num_blocks);
      active.assign(perm.begin() + std::ptrdiff_t(begin), perm.begin() + std::ptrdiff_t(end));
      break;
    }
    case BlockOrder::uniform: {
      // The first k entries of a partial Fisher–Yates shuffle.
      const RandomStream stream = selector_stream(run_seed, ustep, kPurposeUniform);
      std::vector<std::uint32_t> pool(num_blocks);
      std::iota(pool.begin(), pool.end(), 0u);
      for (std::uint32_t j = 0; j < k; ++j) {
        const std::uint32_t pick = j + bounded(bits_at(stream, j), num_blocks - j);
        std::swap(pool[j], pool[pick]);
        active.push_back(pool[j]);
      }
      break;
    }
    case BlockOrder::weighted: {
      // Successive sampling without replacement: each pick ∝ the weights of the blocks not yet picked.
      std::vector<double> weights(num_blocks);
      for (std::uint32_t b = 0; b < num_blocks; ++b) {
        weights[b] = options_.block_weights.empty() ? double(block_numel_[b]) : options_.block_weights[b];
      }
      const RandomStream stream = selector_stream(run_seed, ustep, kPurposeWeighted);
      for (std::uint32_t j = 0; j < k; ++j) {
        double total = 0.0;
        for (const double w : weights) total += w;
        const double target = unit_double(bits_at(stream, 2 * j), bits_at(stream, 2 * j + 1)) * total;
        std::uint32_t pick = num_blocks;
        double cumulative = 0.0;
        for (std::uint32_t b = 0; b < num_blocks; ++b) {
          if (weights[b] <= 0.0) continue;
          cumulative += weights[b];
          pick = b;  // the last positive block also absorbs rounding at the top end
          if (target < cumulative) break;
        }
        active.push_back(pick);
        weights[pick] = 0.0;
      }
      break;
    }
  }
  std::sort(active.begin(), active.end());
  return active;
}

namespace {

void check_blocks(const ParamSet& params, std::span<const std::uint32_t> blocks) {
  for (const std::uint32_t b : blocks) {
    if (b >= params.blocks().size()) {
      fail("block index {}: out of range (the ParamSet has {} blocks)", b, params.blocks().size());
    }
  }
}

}  // namespace

std::int64_t Direction::moving_numel(const ParamSet& params, std::span<const std::uint32_t> blocks) const {
  check_blocks(params, blocks);
  std::int64_t total = 0;
  for (const std::uint32_t b : blocks) total += params.blocks()[b].numel;
  return total;
}

Draw Direction::draw(const ParamSet& params, std::span<const std::uint32_t> blocks, std::uint64_t seed) const {
  check_blocks(params, blocks);
  Draw result{seed, 1.0f};
  if (options_.distribution != Distribution::sphere) return result;
  double sum_squares = 0.0;
  std::int64_t d = 0;
  for (const std::uint32_t b : blocks) {
    for (const std::size_t i : params.blocks()[b].params) {
      sum_squares += detail::raw_sum_of_squares(params.param(i), seed);
      d += params.param(i).numel;
    }
  }
  if (sum_squares > 0.0) result.scale = float(std::sqrt(double(d) / sum_squares));
  return result;
}

void Direction::fill(const Param& p, const Draw& draw, std::int64_t begin, std::int64_t n, float* z) const {
  if (begin < 0 || n < 0 || begin > p.numel - n) {
    fail("Direction::fill of '{}': range [{}, {} + {}) outside [0, {})", p.name, begin, begin, n, p.numel);
  }
  if (n == 0) return;
  if (detail::is_low_rank(options_, p)) {
    const std::int64_t cols = p.shape[1];
    detail::LowRankFactors factors;
    detail::make_low_rank(options_, p, draw, begin / cols, (begin + n - 1) / cols + 1, factors);
    detail::generate(options_, p, draw, &factors, begin, n, z);
  } else {
    detail::generate(options_, p, draw, nullptr, begin, n, z);
  }
}

namespace detail {

using zo::mul_add;

bool is_low_rank(const DirectionOptions& options, const Param& p) {
  return options.kind == DirectionKind::low_rank && p.shape.size() == 2;
}

namespace {

void fill_values(Distribution distribution, const RandomStream& s, std::int64_t begin, std::int64_t n, float* out) {
  if (distribution == Distribution::rademacher) {
    fill_rademacher(s, begin, n, out);
  } else {
    fill_normal(s, begin, n, out);
  }
}

}  // namespace

void make_low_rank(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t row0,
                   std::int64_t row1, LowRankFactors& out) {
  const std::int64_t m = p.shape[0];
  const std::int64_t n = p.shape[1];
  const int r = options.rank;
  row0 = std::clamp<std::int64_t>(row0, 0, m);
  row1 = std::clamp<std::int64_t>(row1, row0, m);
  out.row0 = row0;
  out.rows = row1 - row0;
  out.cols = n;
  out.rank = r;
  out.u.resize(std::size_t(out.rows * r));
  fill_values(options.distribution, RandomStream{draw.seed, p.key, Stream::low_rank_u}, row0 * r, out.rows * r,
              out.u.data());
  const auto factor = float(double(draw.scale) / std::sqrt(double(r)));
  for (float& u : out.u) u *= factor;
  std::vector<float> v(std::size_t(n * r));
  fill_values(options.distribution, RandomStream{draw.seed, p.key, Stream::low_rank_v}, 0, n * r, v.data());
  out.vt.resize(std::size_t(n * r));
  for (std::int64_t j = 0; j < n; ++j) {
    for (int k = 0; k < r; ++k) out.vt[std::size_t(k * n + j)] = v[std::size_t(j * r + k)];
  }
}

namespace {

// out[j] = Σ_k u[k] · vt[k·stride + j], j < len, accumulated in the order k = 0, 1, … (one product,
// then fused multiply-adds). Ranks up to 8 keep the sum in registers; every rank gives the same bits.
template <int R>
void low_rank_row_fixed(const float* u, const float* vt, std::int64_t stride, std::int64_t len, float* out) {
  for (std::int64_t j = 0; j < len; ++j) {
    float acc = u[0] * vt[j];
    for (int k = 1; k < R; ++k) acc = mul_add(u[k], vt[k * stride + j], acc);
    out[j] = acc;
  }
}

void low_rank_row(const float* u, const float* vt, std::int64_t stride, int r, std::int64_t len, float* out) {
  switch (r) {
    case 1: return low_rank_row_fixed<1>(u, vt, stride, len, out);
    case 2: return low_rank_row_fixed<2>(u, vt, stride, len, out);
    case 3: return low_rank_row_fixed<3>(u, vt, stride, len, out);
    case 4: return low_rank_row_fixed<4>(u, vt, stride, len, out);
    case 5: return low_rank_row_fixed<5>(u, vt, stride, len, out);
    case 6: return low_rank_row_fixed<6>(u, vt, stride, len, out);
    case 7: return low_rank_row_fixed<7>(u, vt, stride, len, out);
    case 8: return low_rank_row_fixed<8>(u, vt, stride, len, out);
    default: break;
  }
  for (std::int64_t j = 0; j < len; ++j) out[j] = u[0] * vt[j];
  for (int k = 1; k < r; ++k) {
    const float uk = u[k];
    const float* vk = vt + k * stride;
    for (std::int64_t j = 0; j < len; ++j) out[j] = mul_add(uk, vk[j], out[j]);
  }
}

}  // namespace

void generate(const DirectionOptions& options, const Param& p, const Draw& draw, const LowRankFactors* factors,
              std::int64_t begin, std::int64_t n, float* z) {
  if (is_low_rank(options, p)) {
    // Row segments of Z = U' Vᵀ over the range.
    const std::int64_t cols = factors->cols;
    const int r = factors->rank;
    std::int64_t idx = begin;
    const std::int64_t end = begin + n;
    while (idx < end) {
      const std::int64_t row = idx / cols;
      const std::int64_t col0 = idx - row * cols;
      const std::int64_t len = std::min(cols - col0, end - idx);
      const float* u = factors->u.data() + (row - factors->row0) * r;
      float* out = z + (idx - begin);
      low_rank_row(u, factors->vt.data() + col0, cols, r, len, out);
      idx += len;
    }
    return;
  }
  const Distribution values = options.distribution == Distribution::rademacher ? Distribution::rademacher
                                                                               : Distribution::gaussian;
  const RandomStream value_stream{draw.seed, p.key, Stream::value};
  if (options.kind != DirectionKind::sparse) {
    fill_values(values, value_stream, begin, n, z);
    if (draw.scale != 1.0f) {
      const float s = draw.scale;
      for (std::int64_t j = 0; j < n; ++j) z[j] *= s;
    }
    return;
  }
  // Sparse: zeros, then the kept coordinates of every span the range meets.
  std::fill(z, z + n, 0.0f);
  const std::int64_t end = begin + n;
  SparseSpan kept;
  for (std::int64_t span = begin / kSparseSpan; span * kSparseSpan < end; ++span) {
    sparse_span(options, p, draw, span, kept);
    const std::int64_t base = span * kSparseSpan;
    for (std::int64_t k = 0; k < kept.count; ++k) {
      const std::int64_t i = base + kept.index[k];
      if (i >= begin && i < end) z[i - begin] = kept.value[k];
    }
  }
}

void sparse_span(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span, SparseSpan& out) {
  sparse_positions(options, p, draw, span, out);
  sparse_values(options, p, draw, span, out);
}

void sparse_positions(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span,
                      SparseSpan& out) {
  const float c = gap_scale(options.keep);
  const RandomStream mask_stream{draw.seed, p.key, Stream::mask};
  const std::int64_t first_word = span * kSparseSpan;  // draw j of the span is mask word first_word + j
  const std::int64_t g = options.granule;
  const std::int64_t units = kSparseSpan / g;  // the span's runs of g coordinates (g = 1: its coordinates)
  // g = 1 writes the kept positions straight into out.index; g > 1 writes the kept runs first and
  // expands each into its g coordinates below.
  std::int32_t* kept_units = g == 1 ? out.index : out.runs;
  alignas(64) std::uint32_t gaps[kBatchElements];
  std::int64_t pos = -1;
  std::int64_t count = 0;
  // Every draw advances pos by at least 1, so a span uses at most `units` draws (its own words).
  // Draws come in groups of 32 (8 Philox counters), as many as the positions left are expected to
  // need (~keep per position), so a sparse span draws little more than it keeps.
  for (std::int64_t j = 0; pos < units - 1;) {
    const double expected = double(units - 1 - pos) * options.keep + 8.0;
    const int groups = int(std::clamp(std::ceil(expected / 32.0), 1.0, 4.0));
    const int drawn = 32 * groups;
    gap_groups(mask_stream, std::uint64_t(first_word + j) / 4, groups, c, gaps);
    for (int k = 0; k < drawn; ++k) {
      pos += 1 + std::int64_t(gaps[k]);
      kept_units[count + k] = std::int32_t(std::min(pos, units));
    }
    // Positions increase: the kept ones of this draw are a prefix.
    std::int64_t in_span = drawn;
    if (kept_units[count + drawn - 1] >= units) {
      in_span = 0;
      while (kept_units[count + in_span] < units) ++in_span;
    }
    count += in_span;
    j += drawn;
    if (in_span < drawn) break;
  }
  if (g > 1) {
    out.run_count = count;
    for (std::int64_t u = 0; u < count; ++u) {
      const auto first = std::int32_t(kept_units[u] * g);
      out.runs[u] = first;
      for (std::int64_t r = 0; r < g; ++r) out.index[u * g + r] = first + std::int32_t(r);
    }
    count *= g;
  }
  out.count = count;
}

void sparse_values(const DirectionOptions& options, const Param& p, const Draw& draw, std::int64_t span,
                   SparseSpan& out) {
  const std::int64_t count = out.count;
  if (count == 0) return;
  const std::int64_t first_word = span * kSparseSpan;
  const RandomStream value_stream{draw.seed, p.key, Stream::value};
  if (options.distribution == Distribution::rademacher) {
    fill_rademacher(value_stream, first_word, count, out.value);
  } else {
    // Whole groups of 32 normals from the span's first value element (kSparseSpan is a multiple of 32).
    for (std::int64_t done = 0; done < count; done += 128) {
      const int groups = int(std::min<std::int64_t>((count - done + 31) / 32, 4));
      normal_groups(value_stream, std::uint64_t(first_word + done) / 4, groups, out.value + done);
    }
  }
  const auto s = float(double(draw.scale) / std::sqrt(options.keep));
  for (std::int64_t k = 0; k < count; ++k) out.value[k] *= s;
}

double raw_sum_of_squares(const Param& p, std::uint64_t seed) {
  const RandomStream stream{seed, p.key, Stream::value};
  const std::int64_t chunks = (p.numel + kChunk - 1) / kChunk;
  std::vector<double> partial(std::size_t(chunks), 0.0);
#pragma omp parallel if (chunks >= kParallelMinChunks)
  {
    alignas(64) float z[kChunk];
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
      const std::int64_t begin = c * kChunk;
      const std::int64_t len = std::min<std::int64_t>(kChunk, p.numel - begin);
      fill_normal(stream, begin, len, z);
      double acc = 0.0;
      for (std::int64_t j = 0; j < len; ++j) acc += double(z[j]) * double(z[j]);
      partial[std::size_t(c)] = acc;
    }
  }
  return std::accumulate(partial.begin(), partial.end(), 0.0);
}

}  // namespace detail

}  // namespace zo
