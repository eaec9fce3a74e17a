// Fused passes over the moving coordinates of a step. z is generated inside the pass (never stored
// beyond a cache-sized chunk), and only the blocks that move are read or written: a block-coordinate
// pass costs one block's bytes. CPU: OpenMP over fixed-size chunks, vectorised; results do not depend
// on the thread count.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"

#include <cstdint>
#include <functional>
#include <span>

namespace zo {

// Elements per chunk in the fused passes (a multiple of 4, so chunks align with Philox counters).
inline constexpr std::int64_t kChunk = 2048;
// Passes over fewer chunks than this run on the calling thread: OpenMP's fork/join costs more than
// 16k elements of work (15-45x more per step of a d = 10 000 problem on a loaded 2-core machine).
inline constexpr std::int64_t kParallelMinChunks = 8;

// θ += alpha · z(draw) on every moving coordinate of `blocks`, θ = fma(alpha, z, θ) in float32;
// nothing else is touched. A sparse direction reads and writes only its kept coordinates (the others
// keep their bits). bf16/f16 params are converted to float32, updated, and rounded back. When params
// has a backend (backend.hpp), the backend runs the pass where the data is.
void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks,
             const Draw& draw, float alpha);

// One chunk of one param during a fused update.
struct UpdateChunk {
  std::size_t param = 0;            // index in ParamSet::params()
  std::int64_t begin = 0;           // first element of the chunk within the param
  std::int64_t n = 0;               // elements in the chunk (<= kChunk)
  float* theta = nullptr;           // n float32 values of θ; the visitor updates them in place
  std::span<const float* const> z;  // z[k][0..n): draw k's values (scale included), 0 where not moving
};

// Visits every coordinate of `blocks` once, in chunks, regenerating each draw's z in the pass, and
// writes θ back. Host memory only: throws zo::Error when params has a backend. Chunks are visited concurrently (OpenMP): the visitor must only touch state of its
// own (param, begin..begin+n) range. This is the one pass optimizers update through.
void fused_update(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks,
                  std::span<const Draw> draws, const std::function<void(const UpdateChunk&)>& visit);

}  // namespace zo
