// Python keyword options -> zo's option structs. Each front end of the package (zo.minimize,
// zo.torch.ZOOptimizer) names its options once here; a key that is not one of them, or a value of the
// wrong type, is a zo::Error naming the option. Values are validated by the structs' own validate().
#pragma once

#include "zo/core/direction.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/minimize.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/optim/step_driver.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

namespace zo::python {

// Scalar conversions that name the option on failure.
double as_double(const std::string& what, const pybind11::handle& value);
std::int64_t as_int(const std::string& what, const pybind11::handle& value);
std::uint64_t as_seed(const std::string& what, const pybind11::handle& value);
bool as_bool(const std::string& what, const pybind11::handle& value);
std::string as_string(const std::string& what, const pybind11::handle& value);
// A loss as a double: a Python float, int, numpy scalar or one-element tensor (anything with __float__).
double loss_value(const pybind11::handle& value);

// zo.minimize's options (docs/python.md). `callback` (a Python callable) is returned separately.
struct MinimizeArgs {
  MinimizeOptions options;
  pybind11::object callback = pybind11::none();
};
MinimizeArgs minimize_args(const pybind11::dict& kwargs);

// zo.torch.ZOOptimizer's run-wide options: everything but the per-group hyper-parameters and blocks.
struct SessionOptions {
  std::uint64_t seed = 0;
  NanPolicy nan_policy = NanPolicy::stop;
  DirectionOptions direction{};
  EstimatorOptions estimator{};
  OptimizerOptions optimizer{};  // lr, weight_decay, momentum, betas and zeta are per group (GroupHyper)
};
SessionOptions session_options(const pybind11::dict& kwargs);
pybind11::dict to_dict(const SessionOptions& options);

// The per-group hyper-parameters of a ZOOptimizer param group.
struct GroupHyper {
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double zeta = 1e-8;
  bool operator==(const GroupHyper&) const = default;
};
// From a dict with exactly the keys lr, weight_decay, momentum, beta1, beta2, zeta (extra keys of a
// torch param group, e.g. a scheduler's initial_lr, are ignored; a missing one is an error).
GroupHyper group_hyper(const pybind11::handle& group, std::size_t index);
pybind11::dict to_dict(const GroupHyper& hyper);

}  // namespace zo::python
