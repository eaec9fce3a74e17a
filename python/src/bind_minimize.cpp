// zo._core.minimize(f, x0, options): zo::minimize on a Python objective. x0 is copied to float32;
// f gets a read-only numpy view of the current x (valid during the call only), shaped like x0.
#include "bindings.hpp"
#include "options.hpp"

#include "zo/optim/minimize.hpp"
#include "zo/util/error.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace pybind11::literals;

namespace zo::python {

namespace {

py::dict minimize_py(const py::function& f, const py::array& x0, const py::dict& kwargs) {
  MinimizeArgs args = minimize_args(kwargs);
  const auto start = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(x0);
  if (!start) throw py::error_already_set();
  std::vector<py::ssize_t> shape(start.shape(), start.shape() + start.ndim());
  std::vector<float> x(start.data(), start.data() + start.size());

  // The history first, so it holds the step a user callback stops at.
  std::vector<double> history;
  args.options.callbacks.push_back([&history](const StepInfo& info) {
    history.push_back(info.loss);
    return true;
  });
  if (!args.callback.is_none()) {
    const py::object callback = args.callback;
    args.options.callbacks.push_back([callback](const StepInfo& info) {
      const py::object r = callback(py::dict("step"_a = info.step, "evaluations"_a = info.evaluations, "loss"_a = info.loss,
                                             "lr"_a = info.lr, "skipped"_a = info.skipped));
      return r.is_none() || r.cast<bool>();
    });
  }
  // A read-only view of x; its base owns nothing (x outlives every call).
  const py::capsule base(&x, [](void*) {});
  const auto objective = [&](std::span<const float> v) {
    py::array_t<float> view(shape, v.data(), base);
    view.attr("setflags")("write"_a = false);
    return loss_value(f(view));
  };
  const Summary s = minimize(objective, x, args.options);

  py::array_t<float> out(shape);
  std::copy(x.begin(), x.end(), out.mutable_data());
  py::dict r;
  r["x"] = out;
  r["loss"] = s.final_loss;
  r["initial_loss"] = s.initial_loss;
  r["history"] = py::cast(history);
  r["termination"] = std::string(to_string(s.termination));
  r["message"] = s.message;
  r["steps"] = s.steps;
  r["evaluations"] = s.evaluations;
  r["skipped_steps"] = s.skipped_steps;
  r["seconds"] = s.seconds;
  r["report"] = s.report();
  return r;
}

}  // namespace

void bind_minimize(py::module_& m) {
  m.def("minimize", &minimize_py, "f"_a, "x0"_a, "options"_a,
        "zo::minimize(f, x0, options) with options as zo.minimize's keywords; returns the Summary as a dict with x "
        "and the per-step loss history.");
}

}  // namespace zo::python
