#include "options.hpp"

#include "zo/util/error.hpp"

#include <fmt/ranges.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <vector>

namespace py = pybind11;

namespace zo::python {

namespace {

std::string type_name(const py::handle& value) { return py::str(py::type::handle_of(value).attr("__name__")); }

std::string show(const py::handle& value) { return py::repr(value); }

// name -> setter; an unknown key names the valid ones.
template <class T>
using Table = std::map<std::string, std::function<void(T&, const py::handle&)>>;

template <class T>
void apply(const Table<T>& table, T& target, const py::dict& kwargs, const char* front_end) {
  for (const auto& [key, value] : kwargs) {
    const std::string name = as_string(std::string(front_end) + " option name", key);
    const auto it = table.find(name);
    if (it == table.end()) {
      std::vector<std::string> names;
      for (const auto& [n, setter] : table) names.push_back(n);
      fail("{}: unknown option '{}' (the options are: {})", front_end, name, fmt::join(names, ", "));
    }
    it->second(target, value);
  }
}

}  // namespace

double as_double(const std::string& what, const py::handle& value) {
  if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::float_>(value) || py::isinstance<py::int_>(value) ||
                                            py::hasattr(value, "__float__"))) {
    fail("option '{}' = {}: must be a number (got a {})", what, show(value), type_name(value));
  }
  return py::float_(py::reinterpret_borrow<py::object>(value)).cast<double>();
}

std::int64_t as_int(const std::string& what, const py::handle& value) {
  if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::hasattr(value, "__index__"))) {
    fail("option '{}' = {}: must be an integer (got a {})", what, show(value), type_name(value));
  }
  try {
    return py::int_(py::reinterpret_borrow<py::object>(value)).cast<std::int64_t>();
  } catch (const py::cast_error&) {
    fail("option '{}' = {}: out of the 64-bit integer range", what, show(value));
  }
}

std::uint64_t as_seed(const std::string& what, const py::handle& value) {
  if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::hasattr(value, "__index__"))) {
    fail("option '{}' = {}: must be an integer (got a {})", what, show(value), type_name(value));
  }
  const py::int_ v(py::reinterpret_borrow<py::object>(value));
  if (v < py::int_(0) || v > py::int_(std::uint64_t(-1))) fail("option '{}' = {}: must be in [0, 2^64)", what, show(value));
  return v.cast<std::uint64_t>();
}

bool as_bool(const std::string& what, const py::handle& value) {
  if (!py::isinstance<py::bool_>(value)) fail("option '{}' = {}: must be True or False", what, show(value));
  return value.cast<bool>();
}

std::string as_string(const std::string& what, const py::handle& value) {
  if (!py::isinstance<py::str>(value)) fail("option '{}' = {}: must be a string (got a {})", what, show(value), type_name(value));
  return value.cast<std::string>();
}

double loss_value(const py::handle& value) {
  if (py::isinstance<py::float_>(value)) return value.cast<double>();
  if (py::isinstance<py::bool_>(value) || value.is_none() || !py::hasattr(value, "__float__"))
    fail("the loss must be a number (a float or a one-element tensor), got {} (a {})", show(value), type_name(value));
  return py::float_(py::reinterpret_borrow<py::object>(value)).cast<double>();
}

namespace {

int as_int32(const std::string& what, const py::handle& value) {
  const std::int64_t v = as_int(what, value);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    fail("option '{}' = {}: out of range", what, v);
  return int(v);
}

// What add_shared writes into.
struct Parts {
  EstimatorOptions* estimator;
  OptimizerOptions* optimizer;
  DirectionOptions* direction;
  std::uint64_t* seed;
  NanPolicy* nan_policy;
};

// Options both front ends share: estimator, the optimizer rule's run-wide switches, seed, NaN
// policy, and the sparse / low-rank parameters. `get` maps the front end's target to these structs.
template <class T, class Get>
void add_shared(Table<T>& t, Get get) {
  t["eps"] = [get](T& o, const py::handle& v) { get(o).estimator->eps = as_double("eps", v); };
  t["queries"] = [get](T& o, const py::handle& v) { get(o).estimator->queries = as_int32("queries", v); };
  t["difference"] = [get](T& o, const py::handle& v) {
    get(o).estimator->difference = difference_from_string(as_string("difference", v));
  };
  t["optimizer"] = [get](T& o, const py::handle& v) {
    get(o).optimizer->kind = optimizer_kind_from_string(as_string("optimizer", v));
  };
  t["amsgrad"] = [get](T& o, const py::handle& v) { get(o).optimizer->amsgrad = as_bool("amsgrad", v); };
  t["bias_correction"] = [get](T& o, const py::handle& v) {
    get(o).optimizer->bias_correction = as_bool("bias_correction", v);
  };
  t["zeta_outside_root"] = [get](T& o, const py::handle& v) {
    get(o).optimizer->zeta_outside_root = as_bool("zeta_outside_root", v);
  };
  t["no_decay"] = [get](T& o, const py::handle& v) {
    get(o).optimizer->no_decay_pattern = v.is_none() ? std::string() : as_string("no_decay", v);
  };
  t["seed"] = [get](T& o, const py::handle& v) { *get(o).seed = as_seed("seed", v); };
  t["nan_policy"] = [get](T& o, const py::handle& v) {
    *get(o).nan_policy = nan_policy_from_string(as_string("nan_policy", v));
  };
  t["keep"] = [get](T& o, const py::handle& v) { get(o).direction->keep = as_double("keep", v); };
  t["rank"] = [get](T& o, const py::handle& v) { get(o).direction->rank = as_int32("rank", v); };
  t["granule"] = [get](T& o, const py::handle& v) { get(o).direction->granule = as_int32("granule", v); };
}

}  // namespace

MinimizeArgs minimize_args(const py::dict& kwargs) {
  struct Flat {
    MinimizeOptions o;
    std::string direction = "gaussian";
    std::string distribution;  // empty: not given
    py::object callback = py::none();
  };
  Table<Flat> t;
  add_shared(t, [](Flat& f) {
    return Parts{&f.o.estimator, &f.o.optimizer, &f.o.direction, &f.o.seed, &f.o.nan_policy};
  });
  t["steps"] = [](Flat& f, const py::handle& v) { f.o.max_steps = as_int("steps", v); };
  t["max_evaluations"] = [](Flat& f, const py::handle& v) {
    f.o.max_evaluations = v.is_none() ? 0 : as_int("max_evaluations", v);
  };
  t["target_loss"] = [](Flat& f, const py::handle& v) {
    f.o.target_loss = v.is_none() ? -std::numeric_limits<double>::infinity() : as_double("target_loss", v);
  };
  t["time_limit"] = [](Flat& f, const py::handle& v) { f.o.time_limit_s = v.is_none() ? 0.0 : as_double("time_limit", v); };
  t["direction"] = [](Flat& f, const py::handle& v) { f.direction = as_string("direction", v); };
  t["distribution"] = [](Flat& f, const py::handle& v) { f.distribution = as_string("distribution", v); };
  t["lr"] = [](Flat& f, const py::handle& v) { f.o.optimizer.lr = as_double("lr", v); };
  t["momentum"] = [](Flat& f, const py::handle& v) { f.o.optimizer.momentum = as_double("momentum", v); };
  t["weight_decay"] = [](Flat& f, const py::handle& v) { f.o.optimizer.weight_decay = as_double("weight_decay", v); };
  t["beta1"] = [](Flat& f, const py::handle& v) { f.o.optimizer.beta1 = as_double("beta1", v); };
  t["beta2"] = [](Flat& f, const py::handle& v) { f.o.optimizer.beta2 = as_double("beta2", v); };
  t["zeta"] = [](Flat& f, const py::handle& v) { f.o.optimizer.zeta = as_double("zeta", v); };
  t["schedule"] = [](Flat& f, const py::handle& v) { f.o.schedule.kind = schedule_kind_from_string(as_string("schedule", v)); };
  t["warmup_steps"] = [](Flat& f, const py::handle& v) { f.o.schedule.warmup_steps = as_int("warmup_steps", v); };
  t["lr_min_ratio"] = [](Flat& f, const py::handle& v) { f.o.schedule.lr_min_ratio = as_double("lr_min_ratio", v); };
  t["callback"] = [](Flat& f, const py::handle& v) {
    if (!v.is_none() && !PyCallable_Check(v.ptr())) fail("option 'callback' = {}: must be callable or None", show(v));
    f.callback = py::reinterpret_borrow<py::object>(v);
  };

  Flat f;
  apply(t, f, kwargs, "zo.minimize");
  // `direction` names the distribution (as `zo bench synthetic` does) or the direction kind.
  const std::string& d = f.direction;
  if (d == "gaussian" || d == "rademacher" || d == "sphere") {
    f.o.direction.kind = DirectionKind::dense;
    f.o.direction.distribution = distribution_from_string(d);
    if (!f.distribution.empty() && distribution_from_string(f.distribution) != f.o.direction.distribution)
      fail("zo.minimize: direction = '{}' and distribution = '{}' disagree (give one of them)", d, f.distribution);
  } else if (d == "dense" || d == "sparse" || d == "low-rank") {
    f.o.direction.kind = direction_kind_from_string(d);
    if (!f.distribution.empty()) f.o.direction.distribution = distribution_from_string(f.distribution);
  } else {
    fail("zo.minimize option direction = '{}': expected a distribution (gaussian, rademacher, sphere) or a "
         "direction kind (dense, sparse, low-rank)",
         d);
  }
  MinimizeArgs out;
  out.options = std::move(f.o);
  out.callback = std::move(f.callback);
  return out;
}

SessionOptions session_options(const py::dict& kwargs) {
  struct Flat {
    SessionOptions s;
    std::string direction = "dense";
    std::string block_order;  // empty: the direction's default
  };
  Table<Flat> t;
  add_shared(t, [](Flat& f) {
    return Parts{&f.s.estimator, &f.s.optimizer, &f.s.direction, &f.s.seed, &f.s.nan_policy};
  });
  t["state"] = [](Flat& f, const py::handle& v) { f.s.optimizer.state = state_scope_from_string(as_string("state", v)); };
  t["direction"] = [](Flat& f, const py::handle& v) { f.direction = as_string("direction", v); };
  t["distribution"] = [](Flat& f, const py::handle& v) {
    f.s.direction.distribution = distribution_from_string(as_string("distribution", v));
  };
  t["block_order"] = [](Flat& f, const py::handle& v) {
    f.block_order = v.is_none() ? std::string() : as_string("block_order", v);
  };
  t["blocks_per_step"] = [](Flat& f, const py::handle& v) {
    f.s.direction.blocks_per_step = as_int32("blocks_per_step", v);
  };
  t["block_weights"] = [](Flat& f, const py::handle& v) {
    f.s.direction.block_weights.clear();
    if (v.is_none()) return;
    if (!py::isinstance<py::sequence>(v) || py::isinstance<py::str>(v))
      fail("option 'block_weights' = {}: must be a sequence of numbers (one per block) or None", show(v));
    std::size_t i = 0;
    for (const py::handle item : v) {
      f.s.direction.block_weights.push_back(as_double(fmt::format("block_weights[{}]", i++), item));
    }
  };

  Flat f;
  // torch semantics: a group's weight_decay applies to every param of the group (no_decay opts out).
  f.s.optimizer.no_decay_pattern.clear();
  apply(t, f, kwargs, "zo.torch.ZOOptimizer");
  if (f.direction == "bcd" || f.direction == "block-coordinate") {
    f.s.direction.kind = DirectionKind::dense;
    f.s.direction.order = BlockOrder::permutation;
  } else {
    try {
      f.s.direction.kind = direction_kind_from_string(f.direction);
    } catch (const Error& e) {
      fail("option 'direction' = '{}': {} (or bcd, block-coordinate)", f.direction, e.what());
    }
  }
  if (!f.block_order.empty()) f.s.direction.order = block_order_from_string(f.block_order);
  f.s.estimator.validate();
  return f.s;
}

py::dict to_dict(const SessionOptions& s) {
  py::dict d;
  d["seed"] = py::int_(s.seed);
  d["nan_policy"] = std::string(to_string(s.nan_policy));
  d["direction"] = std::string(to_string(s.direction.kind));
  d["distribution"] = std::string(to_string(s.direction.distribution));
  d["keep"] = s.direction.keep;
  d["granule"] = s.direction.granule;
  d["rank"] = s.direction.rank;
  d["block_order"] = std::string(to_string(s.direction.order));
  d["blocks_per_step"] = s.direction.blocks_per_step;
  d["block_weights"] = s.direction.block_weights.empty() ? py::object(py::none()) : py::object(py::cast(s.direction.block_weights));
  d["eps"] = s.estimator.eps;
  d["queries"] = s.estimator.queries;
  d["difference"] = std::string(to_string(s.estimator.difference));
  d["optimizer"] = std::string(to_string(s.optimizer.kind));
  d["amsgrad"] = s.optimizer.amsgrad;
  d["bias_correction"] = s.optimizer.bias_correction;
  d["zeta_outside_root"] = s.optimizer.zeta_outside_root;
  d["no_decay"] = s.optimizer.no_decay_pattern.empty() ? py::object(py::none()) : py::object(py::str(s.optimizer.no_decay_pattern));
  d["state"] = std::string(to_string(s.optimizer.state));
  return d;
}

GroupHyper group_hyper(const py::handle& group, std::size_t index) {
  if (!py::isinstance<py::dict>(group)) fail("param_groups[{}]: must be a dict", index);
  const py::dict g = py::reinterpret_borrow<py::dict>(group);
  const auto get = [&](const char* key) -> double {
    if (!g.contains(key)) fail("param_groups[{}] has no '{}'", index, key);
    return as_double(fmt::format("param_groups[{}]['{}']", index, key), g[key]);
  };
  GroupHyper h;
  h.lr = get("lr");
  h.weight_decay = get("weight_decay");
  h.momentum = get("momentum");
  h.beta1 = get("beta1");
  h.beta2 = get("beta2");
  h.zeta = get("zeta");
  if (!(std::isfinite(h.lr) && h.lr >= 0.0)) fail("param_groups[{}]['lr'] = {}: must be finite and >= 0", index, h.lr);
  return h;
}

py::dict to_dict(const GroupHyper& h) {
  py::dict d;
  d["lr"] = h.lr;
  d["weight_decay"] = h.weight_decay;
  d["momentum"] = h.momentum;
  d["beta1"] = h.beta1;
  d["beta2"] = h.beta2;
  d["zeta"] = h.zeta;
  return d;
}

}  // namespace zo::python
