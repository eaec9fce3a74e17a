// The engine under zo.torch.ZOOptimizer: one ZO step at a time on tensors viewed in place, with
// torch.optim's param groups, a ledger row per step, replay of those rows, and state dicts.
//
// A step is zo's StepDriver for one step (first_step = t, max_steps = t + 1): Estimator::estimate
// with the caller's closure, the NaN policy, then the update. Param groups are served by one
// zo::Optimizer per group over the same ParamSet and Direction: the step's Estimate is restricted to
// the blocks of each group (a block never spans groups) and that group's optimizer applies it at the
// group's learning rate. z depends on (seed, tensor name, index) only, so every group sees the same
// z as one optimizer over all params would, and a run with one group equals zo::minimize's update
// bit for bit.
#pragma once

#include "options.hpp"
#include "tensor_views.hpp"

#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/util/error.hpp"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace zo::python {

// Raised (as zo.NonFiniteLoss) when a loss is NaN or infinite under nan_policy "stop"; θ is left
// at its values from before the step.
class NonFiniteLoss : public Error {
 public:
  using Error::Error;
};

class Session {
 public:
  // `options`: session_options' keys; `blocks`: "tensor" (one block per tensor), "group" (one per
  // param group) or an ECMAScript regex for ParamSet::block_by_pattern.
  Session(const pybind11::dict& options, std::string blocks);

  // One step. `group_of[i]` is the param group of views' param i; `groups` the groups' hyper-
  // parameters (dicts, see group_hyper); `loss()` returns the loss at the current values as a float.
  // Returns the ledger row: step, seeds, scales, rhos, losses, lr (one per group), blocks, skipped,
  // aborted, loss, evaluations. Throws NonFiniteLoss under nan_policy stop. A step abandoned by an
  // exception (that one, or one the loss raised) has moved θ through the evaluations it made and
  // back, without an update and without counting: its row (aborted = true, the losses made) is kept
  // for take_aborted(), so that replay can redo those moves.
  pybind11::dict step(TensorViews& views, const std::vector<std::size_t>& group_of, const pybind11::list& groups,
                      const pybind11::function& loss);
  // The row of the last abandoned step (None when there is none), once.
  pybind11::object take_aborted();

  // Applies ledger rows (dicts as step returns, with "groups": the rows' group hyper-parameters) to
  // the base values in `views`, from step 0; an aborted row redoes its evaluations' moves only.
  // Throws zo::Error naming the row when a recomputed value differs from the recorded one.
  std::int64_t replay(TensorViews& views, const std::vector<std::size_t>& group_of, const pybind11::list& rows);

  // {"step": t, "groups": [{"kind", "scalars", "tensors": {name: float32 array}} or None, …]}
  pybind11::dict state_dict() const;
  void load_state_dict(const pybind11::dict& state, TensorViews& views, const std::vector<std::size_t>& group_of,
                       const pybind11::list& groups);

  std::int64_t steps() const { return step_; }
  pybind11::dict options() const { return to_dict(options_); }
  const std::string& blocks() const { return blocks_; }
  // Bytes of optimizer state held.
  std::int64_t state_bytes() const;
  // The layout recorded at the first step: [(name, dtype, shape, group)] and [(block name, [params])].
  pybind11::dict layout() const;

 private:
  struct Layout {
    std::vector<std::string> names;
    std::vector<std::string> dtypes;
    std::vector<std::vector<std::int64_t>> shapes;
    std::vector<std::size_t> group_of;
    std::vector<std::string> block_names;
    std::vector<std::vector<std::size_t>> block_params;
    bool operator==(const Layout&) const = default;
  };
  // Partitions views into blocks, checks the layout against the first one, and makes each group's
  // optimizer match its hyper-parameters (state carried over when they change).
  void prepare(TensorViews& views, const std::vector<std::size_t>& group_of, const std::vector<GroupHyper>& hypers);
  // The step driver for step step_ with `loss`, filling `out` as it goes (so that a step abandoned
  // by an exception leaves what it did). `check` (when set) sees the Estimate and the losses before
  // the update is applied and may throw.
  struct Outcome {
    Estimate estimate;
    bool estimated = false;  // estimate holds this step's Estimate
    std::vector<double> losses;
    bool skipped = false;
  };
  void run_step(ParamSet& params, const Loss& loss, NanPolicy policy,
                const std::function<void(const Estimate&, const std::vector<double>&)>& check, Outcome& out);
  pybind11::dict row(const Outcome& outcome, bool aborted) const;

  SessionOptions options_;
  std::string blocks_;
  Estimator estimator_;
  std::optional<Layout> layout_;
  std::vector<std::uint32_t> block_group_;
  std::vector<GroupHyper> hypers_;                        // current, per group
  std::vector<GroupHyper> built_;                         // what each optimizer was built with
  std::vector<std::unique_ptr<Optimizer>> optimizers_;    // per group
  std::int64_t step_ = 0;
  pybind11::object aborted_ = pybind11::none();          // the row of the last abandoned step
};

}  // namespace zo::python
