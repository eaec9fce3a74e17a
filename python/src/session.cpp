#include "session.hpp"

#include "zo/core/direction.hpp"
#include "zo/optim/step_driver.hpp"
#include "zo/util/error.hpp"

#include <fmt/ranges.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <bit>
#include <cmath>
#include <functional>
#include <limits>

namespace py = pybind11;

namespace zo::python {

namespace {

// The session's per-group optimizers seen by the StepDriver as one Optimizer: each group's
// optimizer gets the step's Estimate restricted to the group's blocks, at the group's rate.
class Grouped final : public Optimizer {
 public:
  Grouped(std::vector<std::unique_ptr<Optimizer>>& optimizers, const std::vector<GroupHyper>& hypers,
          const std::vector<std::uint32_t>& block_group, StateScope scope)
      : Optimizer(OptimizerOptions{}), optimizers_(optimizers), hypers_(hypers), block_group_(block_group), scope_(scope) {}

  void step(ParamSet& params, const Direction& direction, const Estimate& estimate, double lr) override {
    for (std::size_t g = 0; g < optimizers_.size(); ++g) {
      Estimate part;
      part.step = estimate.step;
      part.probes = estimate.probes;
      part.loss = estimate.loss;
      part.evaluations = estimate.evaluations;
      part.finite = estimate.finite;
      part.restore = estimate.restore;  // each group's update restores its own blocks
      for (const std::uint32_t b : estimate.blocks) {
        if (block_group_[b] == g) part.blocks.push_back(b);
      }
      if (!part.blocks.empty()) {
        optimizers_[g]->step(params, direction, part, hypers_[g].lr * lr);
      } else if (scope_ == StateScope::active_block && optimizers_[g]->state_bytes() > 0) {
        // The group does not move: free its state as one optimizer over every param would.
        const StateDict old = optimizers_[g]->state_dict();
        auto fresh = Optimizer::create(optimizers_[g]->options());
        fresh->load_state_dict(StateDict{.kind = old.kind, .scalars = {{"t", old.scalars.at("t")}}}, params);
        optimizers_[g] = std::move(fresh);
      }
    }
  }
  StateDict state_dict() const override { fail("Grouped optimizer: state is kept per group"); }
  void load_state_dict(const StateDict&, const ParamSet&) override { fail("Grouped optimizer: state is kept per group"); }
  std::int64_t state_bytes() const override {
    std::int64_t bytes = 0;
    for (const auto& o : optimizers_) bytes += o->state_bytes();
    return bytes;
  }

 private:
  std::vector<std::unique_ptr<Optimizer>>& optimizers_;
  const std::vector<GroupHyper>& hypers_;
  const std::vector<std::uint32_t>& block_group_;
  StateScope scope_;
};

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b) || (std::isnan(a) && std::isnan(b));
}

std::vector<GroupHyper> hypers_of(const py::list& groups) {
  std::vector<GroupHyper> out;
  for (std::size_t g = 0; g < groups.size(); ++g) out.push_back(group_hyper(groups[g], g));
  return out;
}

OptimizerOptions group_options(const OptimizerOptions& base, const GroupHyper& h) {
  OptimizerOptions o = base;
  o.lr = 1.0;  // unused: each step passes the group's rate
  o.weight_decay = h.weight_decay;
  o.momentum = h.momentum;
  o.beta1 = h.beta1;
  o.beta2 = h.beta2;
  o.zeta = h.zeta;
  return o;
}

bool same_except_lr(GroupHyper a, GroupHyper b) {
  a.lr = b.lr;
  return a == b;
}

}  // namespace

Session::Session(const py::dict& options, std::string blocks)
    : options_(session_options(options)), blocks_(std::move(blocks)), estimator_(options_.estimator) {
  if (blocks_.empty()) fail("option 'blocks' is empty: use 'tensor', 'group' or a regex");
  // Everything that does not depend on the params is checked now, not at the first step.
  OptimizerOptions check = options_.optimizer;
  check.lr = 1.0;
  check.validate();
}

void Session::prepare(TensorViews& views, const std::vector<std::size_t>& group_of, const std::vector<GroupHyper>& hypers) {
  ParamSet& params = views.params();
  const std::size_t n = params.params().size();
  if (n == 0) fail("no parameters to optimize");
  if (group_of.size() != n) fail("internal: {} group indices for {} params", group_of.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    if (group_of[i] >= hypers.size()) fail("internal: param {} in group {} of {}", i, group_of[i], hypers.size());
  }

  if (blocks_ == "tensor") {
    params.block_per_param();
  } else if (blocks_ == "group") {
    std::vector<Block> blocks;
    for (std::size_t g = 0; g < hypers.size(); ++g) {
      Block b{.name = fmt::format("group.{}", g)};
      for (std::size_t i = 0; i < n; ++i) {
        if (group_of[i] == g) b.params.push_back(i);
      }
      if (!b.params.empty()) blocks.push_back(std::move(b));
    }
    params.set_blocks(std::move(blocks));
  } else {
    params.block_by_pattern(blocks_);
  }
  std::vector<std::uint32_t> block_group;
  for (const Block& b : params.blocks()) {
    const std::size_t g = group_of[b.params.front()];
    for (const std::size_t i : b.params) {
      if (group_of[i] != g) {
        fail("block '{}' holds parameters of param groups {} and {} ('{}' and '{}'): a block must lie in one group "
             "(change the blocks pattern or the groups)",
             b.name, g, group_of[i], params.param(b.params.front()).name, params.param(i).name);
      }
    }
    block_group.push_back(std::uint32_t(g));
  }

  Layout layout;
  for (const Param& p : params.params()) {
    layout.names.push_back(p.name);
    layout.dtypes.emplace_back(to_string(p.dtype));
    layout.shapes.push_back(p.shape);
  }
  layout.group_of = group_of;
  for (const Block& b : params.blocks()) {
    layout.block_names.push_back(b.name);
    layout.block_params.push_back(b.params);
  }
  if (layout_ && !(*layout_ == layout)) {
    for (std::size_t i = 0; i < std::min(layout.names.size(), layout_->names.size()); ++i) {
      if (layout.names[i] != layout_->names[i] || layout.dtypes[i] != layout_->dtypes[i] ||
          layout.shapes[i] != layout_->shapes[i] || layout.group_of[i] != layout_->group_of[i]) {
        fail("parameter {} is '{}' ({}, shape [{}], group {}) but was '{}' ({}, shape [{}], group {}): the "
             "parameters must keep their names, dtypes, shapes and groups for the whole run",
             i, layout.names[i], layout.dtypes[i], fmt::join(layout.shapes[i], ", "), layout.group_of[i],
             layout_->names[i], layout_->dtypes[i], fmt::join(layout_->shapes[i], ", "), layout_->group_of[i]);
      }
    }
    fail("the parameters changed ({} now, {} before): they must stay the same for the whole run", layout.names.size(),
         layout_->names.size());
  }
  if (!optimizers_.empty() && optimizers_.size() != hypers.size()) {
    fail("{} param groups now, {} before: the groups must stay the same for the whole run", hypers.size(),
         optimizers_.size());
  }

  // Optimizers: new ones first, then swap, so a refused change leaves the session as it was.
  std::vector<std::unique_ptr<Optimizer>> next(hypers.size());
  for (std::size_t g = 0; g < hypers.size(); ++g) {
    OptimizerOptions o = group_options(options_.optimizer, hypers[g]);
    try {
      o.validate();
    } catch (const Error& e) {
      fail("param_groups[{}]: {}", g, e.what());
    }
    if (g < optimizers_.size() && same_except_lr(hypers[g], built_[g])) continue;
    next[g] = Optimizer::create(o);
    if (g < optimizers_.size()) {
      try {
        next[g]->load_state_dict(optimizers_[g]->state_dict(), params);
      } catch (const Error& e) {
        fail("param_groups[{}]: its hyper-parameters changed and its state cannot carry over: {}", g, e.what());
      }
    }
  }
  if (optimizers_.empty()) optimizers_.resize(hypers.size());
  built_.resize(hypers.size());
  for (std::size_t g = 0; g < hypers.size(); ++g) {
    if (next[g]) {
      optimizers_[g] = std::move(next[g]);
      built_[g] = hypers[g];
    }
  }
  hypers_ = hypers;
  block_group_ = std::move(block_group);
  if (!layout_) layout_ = std::move(layout);
}

void Session::run_step(ParamSet& params, const Loss& loss, NanPolicy policy,
                       const std::function<void(const Estimate&, const std::vector<double>&)>& check, Outcome& out) {
  const Direction direction(options_.direction, params);
  Grouped grouped(optimizers_, hypers_, block_group_, options_.optimizer.state);
  StepDriver driver(params, direction, grouped,
                    {.seed = options_.seed, .first_step = step_, .max_steps = step_ + 1, .lr = 1.0, .nan_policy = policy});
  out.estimate.step = step_;
  const Loss recording = [&] {
    const double f = loss();
    out.losses.push_back(f);
    return f;
  };
  const EstimateFn estimate = [&](std::int64_t t) {
    // The last restore is left to the update pass (3 passes a central step), as in zo's own runs.
    out.estimate = estimator_.estimate(recording, params, direction, options_.seed, t, Restore::in_update);
    out.estimated = true;
    if (check) {
      try {
        check(out.estimate, out.losses);
      } catch (...) {
        finish_restore(params, direction, out.estimate);
        throw;
      }
    }
    return out.estimate;
  };
  const StepSummary summary = driver.run(estimate, evaluations_per_step(estimator_.options()));
  if (summary.termination == Termination::non_finite_loss) throw NonFiniteLoss(summary.message);
  out.skipped = summary.skipped_steps > 0;
  ++step_;
}

py::dict Session::row(const Outcome& o, bool aborted) const {
  py::list seeds, scales, rhos, lrs;
  if (o.estimated) {
    for (const Probe& p : o.estimate.probes) {
      seeds.append(py::int_(p.draw.seed));
      scales.append(double(p.draw.scale));
      rhos.append(p.rho);
    }
  }
  for (const GroupHyper& h : hypers_) lrs.append(h.lr);
  py::dict r;
  r["step"] = o.estimate.step;
  r["seeds"] = seeds;
  r["scales"] = scales;
  r["rhos"] = rhos;
  r["losses"] = py::cast(o.losses);
  r["lr"] = lrs;
  r["blocks"] = o.estimated ? py::cast(o.estimate.blocks) : py::list();
  r["skipped"] = o.skipped;
  r["aborted"] = aborted;
  r["loss"] = o.estimated ? o.estimate.loss : std::numeric_limits<double>::quiet_NaN();
  r["evaluations"] = std::int64_t(o.losses.size());
  return r;
}

py::dict Session::step(TensorViews& views, const std::vector<std::size_t>& group_of, const py::list& groups,
                       const py::function& loss) {
  aborted_ = py::none();
  prepare(views, group_of, hypers_of(groups));
  const Loss call = [&loss] { return loss_value(loss()); };
  Outcome out;
  try {
    run_step(views.params(), call, options_.nan_policy, {}, out);
  } catch (...) {
    aborted_ = row(out, true);
    throw;
  }
  return row(out, false);
}

py::object Session::take_aborted() {
  py::object r = aborted_;
  aborted_ = py::none();
  return r;
}

namespace {

// Thrown by replay's loss when an aborted row's recorded evaluations run out: it unwinds the
// estimator as the exception of the recorded run did.
struct ReplayAbort {};

}  // namespace

std::int64_t Session::replay(TensorViews& views, const std::vector<std::size_t>& group_of, const py::list& rows) {
  if (step_ != 0) fail("replay: the session has already run {} steps; replay starts from the base parameters", step_);
  std::int64_t applied = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const py::dict row = rows[r].cast<py::dict>();
    const std::string where = fmt::format("ledger row {}", r);
    const std::int64_t step = as_int(where + " step", row["step"]);
    if (step != step_) fail("{}: step {} where step {} was expected (the rows must start at 0 without gaps)", where, step, step_);
    prepare(views, group_of, hypers_of(row["groups"].cast<py::list>()));
    const auto losses = row["losses"].cast<std::vector<double>>();
    const auto seeds = row["seeds"].cast<std::vector<std::uint64_t>>();
    const auto scales = row["scales"].cast<std::vector<double>>();
    const auto rhos = row["rhos"].cast<std::vector<double>>();
    const auto blocks = row["blocks"].cast<std::vector<std::uint32_t>>();
    const bool skipped = row["skipped"].cast<bool>();
    const bool aborted = row.contains("aborted") && row["aborted"].cast<bool>();
    std::size_t next = 0;
    const Loss recorded = [&]() -> double {
      if (next >= losses.size()) {
        if (aborted) throw ReplayAbort{};
        fail("{}: the estimator asked for more evaluations than the {} recorded", where, losses.size());
      }
      return losses[next++];
    };
    const auto check = [&](const Estimate& e, const std::vector<double>&) {
      if (next != losses.size()) fail("{}: {} evaluations recorded, the estimator used {}", where, losses.size(), next);
      if (e.blocks != blocks) fail("{}: the recomputed moving blocks differ from the recorded ones", where);
      if (e.probes.size() != seeds.size() || seeds.size() != scales.size() || seeds.size() != rhos.size())
        fail("{}: {} probes recomputed, the row records {}", where, e.probes.size(), seeds.size());
      for (std::size_t k = 0; k < seeds.size(); ++k) {
        const Probe& p = e.probes[k];
        if (p.draw.seed != seeds[k] || std::bit_cast<std::uint32_t>(p.draw.scale) != std::bit_cast<std::uint32_t>(float(scales[k])))
          fail("{}: probe {}: the recomputed seed or scale differs from the recorded one (other seed or options?)", where, k);
        if (!same_bits(p.rho, rhos[k]))
          fail("{}: probe {}: rho recomputed as {} but recorded as {} (other base parameters or build?)", where, k, p.rho, rhos[k]);
      }
      if (!aborted && skipped != !e.finite) fail("{}: the row's skipped flag does not match its losses", where);
    };
    Outcome out;
    if (!aborted) {
      run_step(views.params(), recorded, NanPolicy::skip, check, out);
      ++applied;
      continue;
    }
    // The recorded run abandoned this step: a non-finite loss under nan_policy stop, or the loss raised.
    bool completed = false;
    try {
      run_step(views.params(), recorded, NanPolicy::stop, check, out);
      completed = true;
    } catch (const NonFiniteLoss&) {
    } catch (const ReplayAbort&) {
    }
    if (completed) fail("{}: recorded as aborted, but the step completed (the ledger does not match this run)", where);
    if (next != losses.size()) fail("{}: {} evaluations recorded, the estimator used {}", where, losses.size(), next);
  }
  return applied;
}

py::dict Session::state_dict() const {
  py::list groups;
  for (const auto& o : optimizers_) {
    if (!o) {
      groups.append(py::none());
      continue;
    }
    const StateDict sd = o->state_dict();
    py::dict scalars, tensors;
    for (const auto& [k, v] : sd.scalars) scalars[py::str(k)] = v;
    for (const auto& [k, v] : sd.tensors) tensors[py::str(k)] = py::array_t<float>(py::ssize_t(v.size()), v.data());
    py::dict g;
    g["kind"] = sd.kind;
    g["scalars"] = scalars;
    g["tensors"] = tensors;
    groups.append(g);
  }
  py::dict d;
  d["step"] = step_;
  d["groups"] = groups;
  return d;
}

void Session::load_state_dict(const py::dict& state, TensorViews& views, const std::vector<std::size_t>& group_of,
                              const py::list& groups) {
  for (const char* key : {"step", "groups"}) {
    if (!state.contains(key)) fail("state dict has no '{}'", key);
  }
  const std::int64_t step = as_int("state dict step", state["step"]);
  if (step < 0) fail("state dict step = {}: must be >= 0", step);
  const py::list saved = state["groups"].cast<py::list>();
  if (!saved.empty() && saved.size() != groups.size())
    fail("state dict has {} param groups, the optimizer {}", saved.size(), groups.size());
  prepare(views, group_of, hypers_of(groups));
  std::vector<std::unique_ptr<Optimizer>> loaded(saved.size());
  for (std::size_t g = 0; g < saved.size(); ++g) {
    loaded[g] = Optimizer::create(optimizers_[g]->options());
    if (saved[g].is_none()) continue;
    const py::dict d = saved[g].cast<py::dict>();
    StateDict sd;
    sd.kind = as_string(fmt::format("state dict groups[{}] kind", g), d["kind"]);
    for (const auto& [k, v] : d["scalars"].cast<py::dict>()) sd.scalars[k.cast<std::string>()] = as_double(k.cast<std::string>(), v);
    for (const auto& [k, v] : d["tensors"].cast<py::dict>()) {
      const auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(v);
      if (!a) fail("state dict tensor '{}': not convertible to a float32 array", k.cast<std::string>());
      sd.tensors[k.cast<std::string>()] = std::vector<float>(a.data(), a.data() + a.size());
    }
    try {
      loaded[g]->load_state_dict(sd, views.params());
    } catch (const Error& e) {
      fail("state dict param group {}: {}", g, e.what());
    }
  }
  for (std::size_t g = 0; g < saved.size(); ++g) optimizers_[g] = std::move(loaded[g]);
  step_ = step;
}

std::int64_t Session::state_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& o : optimizers_) bytes += o ? o->state_bytes() : 0;
  return bytes;
}

py::dict Session::layout() const {
  py::dict d;
  py::list params, blocks;
  if (layout_) {
    for (std::size_t i = 0; i < layout_->names.size(); ++i) {
      params.append(py::make_tuple(layout_->names[i], layout_->dtypes[i], py::cast(layout_->shapes[i]), layout_->group_of[i]));
    }
    for (std::size_t b = 0; b < layout_->block_names.size(); ++b) {
      blocks.append(py::make_tuple(layout_->block_names[b], py::cast(layout_->block_params[b])));
    }
  }
  d["params"] = params;
  d["blocks"] = blocks;
  return d;
}

}  // namespace zo::python
