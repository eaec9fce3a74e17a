// One ZO step's probes evaluated as ONE batch, for objectives that are cheaper per point in batches
// (a classifier's forward pass). It reproduces Estimator::estimate's draws and ρ (estimator.hpp):
// active blocks direction.active_blocks(run_seed, step), probe k's seed probe_seed(run_seed, step, k),
// its draw direction.draw(params, blocks, seed) and its values Direction::fill; but instead of moving θ
// in place and calling the loss 2q (central) or q + 1 (forward) times, it writes every point into a
// batch and calls `loss` once.
//
// Rows of the batch (each row = every param's values, concatenated in registration order; float32 params
// only):
//   row 0                     θ itself (always: forward differences need it, and callers such as the
//                             attack use it to test the current point)
//   forward, rows 1 … q       θ + ε z_k
//   central, rows 2k+1, 2k+2  θ + ε z_k, θ − ε z_k
// Estimate::evaluations counts every row (q + 1 forward, 2q + 1 central). Estimate::loss is the loss
// at θ (row 0) in both modes. ρ uses the ε actually applied (float(ε)), as Estimator does.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"

#include <cstdint>
#include <functional>
#include <span>

namespace zo::tasks {

// Fills losses[r] for each of the `rows` points (rows × dim floats, row-major) in one call.
using BatchLoss = std::function<void(std::span<const float> points, std::int64_t rows, std::span<double> losses)>;

// Rows the batch of one step holds: q + 1 (forward) or 2q + 1 (central).
std::int64_t batch_rows(const EstimatorOptions& options);

// Builds the batch for `step`, calls `loss` once, returns the Estimate (θ is not modified).
// Throws zo::Error when a param is not float32.
Estimate batched_estimate(const BatchLoss& loss, const ParamSet& params, const Direction& direction,
                          const EstimatorOptions& options, std::uint64_t run_seed, std::int64_t step);

}  // namespace zo::tasks
