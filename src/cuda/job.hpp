// Internal: one param's share of a CUDA pass, as plain data (no CUDA headers), shared by the host
// side (kernels.cpp), the kernels (launch.cu) and the per-thread work they run (passes.hpp). Only
// job_for needs the library.
#pragma once

#include "zo/core/direction.hpp"
#include "zo/core/dtype.hpp"
#include "zo/core/params.hpp"

#include <cstdint>

namespace zo::cuda::detail {

// One param's share of a pass: z over elements [begin, end) of the param, either written to `out`
// (out[i − begin] = z[i], a fill) or applied to θ (θ[i] = fma(alpha, z[i], θ[i]) in float32, stored
// back as `dtype`, a perturbation).
struct Job {
  float* out = nullptr;             // a fill when set
  void* theta = nullptr;            // a perturbation when out is null: the param's first element
  DType dtype = DType::f32;
  float alpha = 0.0f;
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t numel = 0;           // the param's element count
  // The draw: stream (seed, key), values Gaussian or Rademacher, times scale when scale != 1.
  std::uint64_t seed = 0;
  std::uint32_t key = 0;
  bool rademacher = false;
  float scale = 1.0f;
  // Sparse (direction.hpp): kept positions from gaps of scale gap_c over runs of `granule`, kept
  // values times kept_scale = float(draw.scale / sqrt(keep)).
  bool sparse = false;
  float gap_c = 0.0f;
  int granule = 1;
  float kept_scale = 1.0f;
  // Low-rank (rank > 0): z[i] = Σ_k u[row·rank + k] · v[col·rank + k] for a (rows × cols) param,
  // from factors made by launch_factors with `factor` = float(draw.scale / sqrt(rank)).
  int rank = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  float factor = 0.0f;
  const float* u = nullptr;
  const float* v = nullptr;
};

// The job of param p for the draw, over all its elements, with no target set (out, theta, dtype and
// alpha are the caller's; u and v are set once the factors exist).
Job job_for(const Direction& direction, const Param& p, const Draw& draw);

}  // namespace zo::cuda::detail
