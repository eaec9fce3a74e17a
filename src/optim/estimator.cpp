// The in-place two-point protocol. θ is moved only through zo::perturb, and a guard undoes whatever
// offset is still applied when a loss evaluation throws, so θ always comes back.
#include "zo/optim/estimator.hpp"

#include "zo/util/error.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/random.hpp"

#include <cmath>
#include <limits>

namespace zo {

std::string_view to_string(Difference d) {
  switch (d) {
    case Difference::central: return "central";
    case Difference::forward: return "forward";
  }
  return "unknown";
}

Difference difference_from_string(std::string_view name) {
  if (name == "central") return Difference::central;
  if (name == "forward") return Difference::forward;
  fail("unknown difference '{}': expected one of central, forward", name);
}

void EstimatorOptions::validate() const {
  if (!(std::isfinite(eps) && eps > 0.0)) fail("estimator option eps = {}: must be finite and > 0", eps);
  if (float(eps) == 0.0f) fail("estimator option eps = {}: underflows float32 (must be >= 1e-38)", eps);
  if (queries < 1) fail("estimator option queries = {}: must be >= 1", queries);
}

Estimator::Estimator(EstimatorOptions options) : options_(options) { options_.validate(); }

namespace {

// θ += α z for one draw, remembering the net offset; the destructor removes what is left.
// Offsets are sums of ±ε and ±2ε in float, which are exact, so the net offset returns to 0 exactly.
class Shift {
 public:
  Shift(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks, const Draw& draw)
      : params_(params), direction_(direction), blocks_(blocks), draw_(draw) {}
  Shift(const Shift&) = delete;
  Shift& operator=(const Shift&) = delete;
  ~Shift() {
    if (offset_ != 0.0f) perturb(params_, direction_, blocks_, draw_, -offset_);
  }
  void by(float alpha) {
    perturb(params_, direction_, blocks_, draw_, alpha);
    offset_ += alpha;
  }
  // Hands the offset still applied to the caller (the update will remove it): returns it.
  float release() {
    const float offset = offset_;
    offset_ = 0.0f;
    return offset;
  }

 private:
  ParamSet& params_;
  const Direction& direction_;
  std::span<const std::uint32_t> blocks_;
  Draw draw_;
  float offset_ = 0.0f;
};

}  // namespace

std::uint64_t probe_seed(std::uint64_t run_seed, std::int64_t step, int probe) {
  return derive_seed(run_seed, std::uint64_t(step), std::uint32_t(probe + 1));
}

void finish_restore(ParamSet& params, const Direction& direction, Estimate& e) {
  if (!e.restore.pending()) return;
  const PendingRestore r = e.restore;
  if (std::size_t(r.probe) >= e.probes.size())
    fail("finish_restore: step {}: pending restore of probe {}, the estimate has {} probes", e.step, r.probe, e.probes.size());
  perturb(params, direction, e.blocks, e.probes[std::size_t(r.probe)].draw, r.alpha);
  e.restore = {};
}

Estimate Estimator::estimate(const Loss& loss, ParamSet& params, const Direction& direction, std::uint64_t run_seed,
                             std::int64_t step, Restore restore) const {
  Estimate out;
  out.step = step;
  out.blocks = direction.active_blocks(run_seed, step);
  out.probes.reserve(std::size_t(options_.queries));
  const float eps = float(options_.eps);
  // ρ uses the ε actually applied (float), so the difference quotient matches the move.
  const double eps_applied = double(eps);

  const auto evaluate = [&]() {
    const double f = loss();
    ++out.evaluations;
    if (!std::isfinite(f)) out.finite = false;
    return f;
  };

  if (options_.difference == Difference::forward) {
    const double f0 = evaluate();
    out.loss = f0;
    if (!out.finite) return out;
    for (int k = 0; k < options_.queries; ++k) {
      const Draw draw = direction.draw(params, out.blocks, probe_seed(run_seed, step, k));
      double fk;
      double rho;
      {
        Shift shift(params, direction, out.blocks, draw);
        shift.by(eps);
        fk = evaluate();
        rho = (fk - f0) / eps_applied;
        if (restore == Restore::in_update && k + 1 == options_.queries && out.finite && std::isfinite(rho)) {
          out.restore = {k, -shift.release()};
        } else {
          shift.by(-eps);
        }
      }
      out.probes.push_back({draw, rho});
      // A non-finite value ends the step early: its update will be refused anyway.
      if (!out.finite || !std::isfinite(rho)) {
        out.finite = false;
        if (!std::isfinite(fk)) out.loss = fk;
        return out;
      }
    }
    return out;
  }

  double loss_sum = 0.0;
  for (int k = 0; k < options_.queries; ++k) {
    const Draw draw = direction.draw(params, out.blocks, probe_seed(run_seed, step, k));
    double f_plus = 0.0;
    double f_minus = std::numeric_limits<double>::quiet_NaN();
    {
      Shift shift(params, direction, out.blocks, draw);
      shift.by(eps);
      f_plus = evaluate();
      if (out.finite) {
        shift.by(-2.0f * eps);
        f_minus = evaluate();
        const double r = (f_plus - f_minus) / (2.0 * eps_applied);
        if (restore == Restore::in_update && k + 1 == options_.queries && out.finite && std::isfinite(r)) {
          out.restore = {k, -shift.release()};
        } else {
          shift.by(eps);
        }
      }
    }
    const double rho = (f_plus - f_minus) / (2.0 * eps_applied);
    out.probes.push_back({draw, rho});
    if (!out.finite || !std::isfinite(rho)) {
      out.finite = false;
      out.loss = !std::isfinite(f_plus) ? f_plus : !std::isfinite(f_minus) ? f_minus : 0.5 * (f_plus + f_minus);
      return out;
    }
    loss_sum += 0.5 * (f_plus + f_minus);
  }
  out.loss = loss_sum / double(options_.queries);
  return out;
}

}  // namespace zo
