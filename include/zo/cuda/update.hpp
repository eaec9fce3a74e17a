// The update pass on CUDA devices: what an update rule (zo/optim/optimizer.hpp) does to θ on the CPU,
// for parameters and optimizer state in device memory, with the same bits afterwards. One pass over
// the moving coordinates: the estimate's pending restore (θ += α·z_r), ĝ = Σ_k c_k z_k (z regenerated,
// never stored), coupled weight decay, then the rule's line of zo-sgd (with momentum), zo-sign-sgd,
// zo-sgd-sign, zo-rmsprop, zo-adamm or r-adazo, in float32, stored back in θ's type once.
//
// The caller holds the bookkeeping the CPU optimizer does (which state exists, each param's learning
// rate, weight decay and bias-correction terms): `moving` has one ParamUpdate row
// (zo/optim/update_backend.hpp) per param of estimate.blocks, its state in the order of
// zo::state_slots(options). zo::Optimizer does this itself for a ParamSet whose backend is
// zo::cuda::DeviceBackend (backend.hpp). Coefficients are the CPU's: c_k = float(ρ_k / q), or
// float(sign(ρ_k) / q) for zo-sgd-sign.
// Work is queued on `stream` (a cudaStream_t; nullptr: the legacy default stream).
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/params.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/update_backend.hpp"

#include <cstddef>
#include <span>

namespace zo::cuda {

// The most probes one device update takes (their seeds and coefficients travel with the launch).
inline constexpr int kMaxUpdateProbes = 16;

// Applies the update for `estimate` to every param of estimate.blocks. Throws zo::Error, before
// anything is queued, when the estimate is not finite or has a non-finite ρ, has no probes or more
// than kMaxUpdateProbes, names a block or a restore probe out of range; when `moving` misses a param of
// the moving blocks, lists one twice or lists one that does not move; when a state pointer the rule
// needs is null; or when θ or the state is not device memory.
void update(ParamSet& params, const Direction& direction, const Estimate& estimate, const OptimizerOptions& options,
            std::span<const ParamUpdate> moving, void* stream = nullptr);

}  // namespace zo::cuda
