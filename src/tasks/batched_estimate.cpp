#include "zo/tasks/batched_estimate.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"

#include <cmath>
#include <cstring>
#include <vector>

namespace zo::tasks {

std::int64_t batch_rows(const EstimatorOptions& options) {
  return options.difference == Difference::forward ? options.queries + 1 : 2 * std::int64_t(options.queries) + 1;
}

Estimate batched_estimate(const BatchLoss& loss, const ParamSet& params, const Direction& direction,
                          const EstimatorOptions& options, std::uint64_t run_seed, std::int64_t step) {
  options.validate();
  const auto all = params.params();
  std::vector<std::int64_t> offset(all.size());
  std::int64_t dim = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].dtype != DType::f32)
      fail("batched_estimate: param '{}' is {}, only f32 params are supported", all[i].name, to_string(all[i].dtype));
    offset[i] = dim;
    dim += all[i].numel;
  }
  const std::int64_t rows = batch_rows(options);
  const bool forward = options.difference == Difference::forward;
  const int q = options.queries;
  const float eps = float(options.eps);

  std::vector<float> points(static_cast<std::size_t>(rows * dim));
  for (std::size_t i = 0; i < all.size(); ++i)
    std::memcpy(points.data() + offset[i], all[i].data, std::size_t(all[i].numel) * sizeof(float));
  for (std::int64_t r = 1; r < rows; ++r)
    std::memcpy(points.data() + r * dim, points.data(), std::size_t(dim) * sizeof(float));

  Estimate out;
  out.step = step;
  out.blocks = direction.active_blocks(run_seed, step);
  std::vector<float> z;
  for (int k = 0; k < q; ++k) {
    const Draw draw = direction.draw(params, out.blocks, probe_seed(run_seed, step, k));
    out.probes.push_back({draw, 0.0});
    float* plus = points.data() + (forward ? 1 + k : 1 + 2 * k) * dim;
    float* minus = forward ? nullptr : plus + dim;
    for (const std::uint32_t b : out.blocks) {
      for (const std::size_t pi : params.blocks()[b].params) {
        const Param& p = all[pi];
        z.resize(std::size_t(p.numel));
        direction.fill(p, draw, 0, p.numel, z.data());
        float* a = plus + offset[pi];
        for (std::int64_t e = 0; e < p.numel; ++e) a[e] = std::fma(eps, z[std::size_t(e)], a[e]);
        if (minus) {
          float* m = minus + offset[pi];
          for (std::int64_t e = 0; e < p.numel; ++e) m[e] = std::fma(-eps, z[std::size_t(e)], m[e]);
        }
      }
    }
  }

  std::vector<double> f(static_cast<std::size_t>(rows), 0.0);
  loss(points, rows, f);
  out.evaluations = rows;
  out.loss = f[0];
  for (double v : f)
    if (!std::isfinite(v)) out.finite = false;
  const double eps_applied = double(eps);
  for (int k = 0; k < q; ++k) {
    out.probes[std::size_t(k)].rho = forward ? (f[std::size_t(1 + k)] - f[0]) / eps_applied
                                             : (f[std::size_t(1 + 2 * k)] - f[std::size_t(2 + 2 * k)]) / (2.0 * eps_applied);
    if (!std::isfinite(out.probes[std::size_t(k)].rho)) out.finite = false;
  }
  return out;
}

}  // namespace zo::tasks
