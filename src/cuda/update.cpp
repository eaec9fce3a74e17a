// Host side of the CUDA update pass: checks the request as RuleOptimizer::step does, turns each
// moving param into an update job (update_job.hpp), and queues it: z drawn in the pass for dense
// directions; for sparse and low-rank ones, each probe's z is first filled into a scratch of at most
// kScratchElements per probe (stream-ordered device memory), the pass then reads it.
#include "zo/cuda/update.hpp"

#include "host.hpp"
#include "launch.hpp"
#include "update_job.hpp"
#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace zo::cuda {
namespace {

// Elements per probe in one scratch piece: 16 MiB of z per probe.
constexpr std::int64_t kScratchElements = std::int64_t(1) << 22;

}  // namespace

namespace detail {

RuleConstants rule_constants(const OptimizerOptions& o) {
  RuleConstants r;
  switch (o.kind) {
    case OptimizerKind::zo_sgd:
      r.code = o.momentum > 0.0 ? RuleCode::sgd_momentum : RuleCode::sgd;
      break;
    case OptimizerKind::zo_sgd_sign:
      r.code = RuleCode::sgd;
      break;
    case OptimizerKind::zo_sign_sgd:
      r.code = RuleCode::sign_sgd;
      break;
    case OptimizerKind::zo_rmsprop:
      r.code = RuleCode::rmsprop;
      break;
    case OptimizerKind::zo_adamm:
      r.code = o.amsgrad ? RuleCode::adamm_amsgrad : RuleCode::adamm;
      break;
    case OptimizerKind::r_adazo:
      r.code = RuleCode::r_adazo;
      break;
  }
  // As the CPU rules hold them: float(option), and (1.0f − β) computed in float.
  r.momentum = float(o.momentum);
  r.beta1 = float(o.beta1);
  r.one_minus_beta1 = 1.0f - r.beta1;
  r.beta2 = float(o.beta2);
  r.one_minus_beta2 = 1.0f - r.beta2;
  r.zeta = float(o.zeta);
  r.zeta_outside_root = o.zeta_outside_root;
  return r;
}

void check_update(const ParamSet& params, const Estimate& estimate, const OptimizerOptions& options,
                  std::span<const ParamUpdate> moving) {
  options.validate();
  const std::string_view name = to_string(options.kind);
  if (!estimate.finite) {
    fail("zo::cuda::update: {} step {}: the estimate is not finite (a loss evaluation was NaN or Inf)", name,
         estimate.step);
  }
  const std::size_t q = estimate.probes.size();
  if (q == 0) fail("zo::cuda::update: {} step {}: the estimate has no probes", name, estimate.step);
  if (q > std::size_t(kMaxUpdateProbes)) {
    fail("zo::cuda::update: {} step {}: {} probes; the CUDA update takes at most {} a step", name, estimate.step, q,
         kMaxUpdateProbes);
  }
  for (std::size_t k = 0; k < q; ++k) {
    if (!std::isfinite(estimate.probes[k].rho)) {
      fail("zo::cuda::update: {} step {}: probe {} has rho = {}, not finite", name, estimate.step, k,
           estimate.probes[k].rho);
    }
  }
  if (estimate.restore.pending() && std::size_t(estimate.restore.probe) >= q) {
    fail("zo::cuda::update: {} step {}: pending restore of probe {}, the estimate has {} probes", name, estimate.step,
         estimate.restore.probe, q);
  }
  const auto blocks = params.blocks();
  std::vector<int> expected(params.params().size(), 0);  // 1: moves, 2: moves and has its row
  for (const std::uint32_t b : estimate.blocks) {
    if (b >= blocks.size()) {
      fail("zo::cuda::update: {} step {}: block {} out of range (the params have {} blocks)", name, estimate.step, b,
           blocks.size());
    }
    for (const std::size_t i : blocks[b].params) expected[i] = 1;
  }
  const std::vector<std::string> slots = state_slots(options);
  for (const ParamUpdate& row : moving) {
    if (row.param >= expected.size()) {
      fail("zo::cuda::update: a row names param {}, the ParamSet has {}", row.param, expected.size());
    }
    const std::string& pname = params.param(row.param).name;
    if (expected[row.param] == 0) fail("zo::cuda::update: param '{}' has a row but is in no moving block", pname);
    if (expected[row.param] == 2) fail("zo::cuda::update: param '{}' has two rows", pname);
    expected[row.param] = 2;
    if (!(std::isfinite(row.lr) && row.lr >= 0.0f)) {
      fail("zo::cuda::update: param '{}': lr = {}: must be finite and >= 0", pname, row.lr);
    }
    for (std::size_t k = 0; k < slots.size(); ++k) {
      if (row.state[k] == nullptr) {
        fail("zo::cuda::update: param '{}': its state '{}' is null; {} keeps {} state tensor(s) per param", pname,
             slots[k], name, slots.size());
      }
    }
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] == 1) fail("zo::cuda::update: param '{}' moves at this step but has no row", params.param(i).name);
  }
}

bool drawn_in_pass(const Direction& direction, const Param& p) {
  const Job j = job_for(direction, p, Draw{});
  return !j.sparse && j.rank == 0;
}

UpdateJob update_job_for(const Direction& direction, const OptimizerOptions& options, const Estimate& estimate,
                         const Param& p, const ParamUpdate& row) {
  UpdateJob j;
  j.theta = p.data;
  j.dtype = p.dtype;
  j.begin = 0;
  j.end = p.numel;
  const std::size_t q = estimate.probes.size();
  j.probes = int(q);
  const bool sign_of_rho = options.kind == OptimizerKind::zo_sgd_sign;
  for (std::size_t k = 0; k < q; ++k) {
    const Probe& probe = estimate.probes[k];
    j.seed[k] = probe.draw.seed;
    j.scale[k] = probe.draw.scale;
    const double c = sign_of_rho ? double((probe.rho > 0.0) - (probe.rho < 0.0)) : probe.rho;
    j.coef[k] = float(c / double(q));  // as RuleOptimizer::step
  }
  j.key = p.key;
  j.rademacher = direction.options().distribution == Distribution::rademacher;
  j.restore_probe = estimate.restore.probe;
  j.restore_alpha = estimate.restore.alpha;
  j.lr = row.lr;
  j.weight_decay = row.weight_decay;
  j.inv_bias1 = 1.0f / row.bias1;
  j.inv_bias2 = 1.0f / row.bias2;
  for (int k = 0; k < 3; ++k) j.state[k] = row.state[k];
  j.rule = rule_constants(options);
  return j;
}

}  // namespace detail

void update(ParamSet& params, const Direction& direction, const Estimate& estimate, const OptimizerOptions& options,
            std::span<const ParamUpdate> moving, void* stream) {
  detail::check_update(params, estimate, options, moving);
  if (moving.empty()) return;
  detail::require_device();
  const std::vector<std::string> slots = state_slots(options);
  for (const ParamUpdate& row : moving) {
    const Param& p = params.param(row.param);
    detail::require_device_memory(p.data, fmt::format("param '{}'", p.name));
    for (std::size_t k = 0; k < slots.size(); ++k) {
      detail::require_device_memory(row.state[k], fmt::format("param '{}': state '{}'", p.name, slots[k]));
    }
  }
  const auto s = static_cast<cudaStream_t>(stream);
  const std::size_t q = estimate.probes.size();
  for (const ParamUpdate& row : moving) {
    const Param& p = params.param(row.param);
    detail::UpdateJob j = detail::update_job_for(direction, options, estimate, p, row);
    if (detail::drawn_in_pass(direction, p)) {
      detail::check(detail::launch_update(j, s), fmt::format("launching the update of param '{}'", p.name));
      continue;
    }
    const std::int64_t piece = std::min(p.numel, kScratchElements);
    void* scratch = nullptr;
    detail::check(cudaMallocAsync(&scratch, q * std::size_t(piece) * sizeof(float), s),
                  fmt::format("allocating the z scratch of param '{}'", p.name));
    try {
      for (std::int64_t begin = 0; begin < p.numel; begin += piece) {
        const std::int64_t n = std::min(piece, p.numel - begin);
        auto* z = static_cast<float*>(scratch);
        for (std::size_t k = 0; k < q; ++k) {
          detail::fill_on(direction, p, estimate.probes[k].draw, begin, n, z + k * std::size_t(piece), s);
        }
        j.begin = begin;
        j.end = begin + n;
        j.z_scratch = z;
        j.stride = piece;
        detail::check(detail::launch_update(j, s), fmt::format("launching the update of param '{}'", p.name));
      }
    } catch (...) {
      (void)cudaFreeAsync(scratch, s);
      throw;
    }
    detail::check(cudaFreeAsync(scratch, s), fmt::format("freeing the z scratch of param '{}'", p.name));
  }
}

}  // namespace zo::cuda
