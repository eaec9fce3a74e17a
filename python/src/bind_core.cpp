// Low-level bindings: the random streams of random.hpp, tensors viewed in place as a ParamSet,
// directions (active blocks, draws, the reference fill and the fused perturb pass) and one estimate
// by the in-place protocol. zo.torch builds on the session (bind_session.cpp); these are for tests,
// tools and users who want the pieces.
#include "bindings.hpp"
#include "options.hpp"
#include "tensor_views.hpp"

#include "zo/core/direction.hpp"
#include "zo/core/kernels.hpp"
#include "zo/core/philox.hpp"
#include "zo/core/random.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/util/error.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <array>

namespace py = pybind11;
using namespace pybind11::literals;

namespace zo::python {

namespace {

Stream stream_of(const py::handle& s) {
  if (py::isinstance<py::str>(s)) {
    const std::string name = s.cast<std::string>();
    if (name == "value") return Stream::value;
    if (name == "mask") return Stream::mask;
    if (name == "low_rank_u") return Stream::low_rank_u;
    if (name == "low_rank_v") return Stream::low_rank_v;
    if (name == "selector") return Stream::selector;
    fail("unknown stream '{}': expected one of value, mask, low_rank_u, low_rank_v, selector (or an integer)", name);
  }
  return Stream(std::uint32_t(as_int("stream", s)));
}

// A tensor is named (its key is tensor_key(name)) or given by its 32-bit key.
std::uint32_t key_of(const py::handle& tensor) {
  if (py::isinstance<py::str>(tensor)) return tensor_key(tensor.cast<std::string>());
  const std::int64_t key = as_int("tensor", tensor);
  if (key < 0 || key > std::int64_t(0xffffffffu)) fail("tensor key {}: must be in [0, 2^32)", key);
  return std::uint32_t(key);
}

RandomStream stream(std::uint64_t seed, const py::handle& tensor, const py::handle& s) {
  return RandomStream{seed, key_of(tensor), stream_of(s)};
}

template <class T, class Fill>
py::array_t<T> filled(std::int64_t n, Fill fill) {
  if (n < 0) fail("n = {}: must be >= 0", n);
  py::array_t<T> out(n);
  fill(out.mutable_data());
  return out;
}

// A Direction over a TensorViews (which must outlive it and keep its partition).
struct PyDirection {
  TensorViews* views;
  Direction direction;
};

std::size_t param_index(const ParamSet& params, const py::handle& which) {
  if (py::isinstance<py::str>(which)) {
    const std::string name = which.cast<std::string>();
    const Param* p = params.find(name);
    if (p == nullptr) fail("no parameter named '{}'", name);
    return std::size_t(p - params.params().data());
  }
  const std::int64_t i = as_int("param", which);
  if (i < 0 || std::size_t(i) >= params.params().size()) fail("param index {}: out of range [0, {})", i, params.params().size());
  return std::size_t(i);
}

py::dict estimate_dict(const Estimate& e) {
  py::list probes;
  for (const Probe& p : e.probes) probes.append(py::make_tuple(py::int_(p.draw.seed), double(p.draw.scale), p.rho));
  py::dict d;
  d["step"] = e.step;
  d["blocks"] = py::cast(e.blocks);
  d["probes"] = probes;
  d["loss"] = e.loss;
  d["evaluations"] = e.evaluations;
  d["finite"] = e.finite;
  return d;
}

}  // namespace

void bind_core(py::module_& m) {
  m.def("tensor_key", [](const std::string& name) { return tensor_key(name); }, "name"_a,
        "The RNG's identity of a tensor: FNV-1a 32-bit hash of its name.");
  m.def("derive_seed", &derive_seed, "run_seed"_a, "step"_a, "purpose"_a = 0);
  m.def("probe_seed", &probe_seed, "run_seed"_a, "step"_a, "probe"_a,
        "The seed of probe k at step t of a run: derive_seed(run_seed, t, k + 1).");
  const char* fill_doc = "Draws for elements [begin, begin + n) of (seed, tensor name or key, stream).";
  m.def(
      "fill_normal",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t begin, std::int64_t n, const py::handle& s) {
        const RandomStream rs = stream(seed, tensor, s);
        return filled<float>(n, [&](float* out) { fill_normal(rs, begin, n, out); });
      },
      "seed"_a, "tensor"_a, "begin"_a, "n"_a, "stream"_a = "value", fill_doc);
  m.def(
      "fill_rademacher",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t begin, std::int64_t n, const py::handle& s) {
        const RandomStream rs = stream(seed, tensor, s);
        return filled<float>(n, [&](float* out) { fill_rademacher(rs, begin, n, out); });
      },
      "seed"_a, "tensor"_a, "begin"_a, "n"_a, "stream"_a = "value", fill_doc);
  m.def(
      "fill_uniform",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t begin, std::int64_t n, const py::handle& s) {
        const RandomStream rs = stream(seed, tensor, s);
        return filled<float>(n, [&](float* out) { fill_uniform(rs, begin, n, out); });
      },
      "seed"_a, "tensor"_a, "begin"_a, "n"_a, "stream"_a = "value", fill_doc);
  m.def(
      "fill_bits",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t begin, std::int64_t n, const py::handle& s) {
        const RandomStream rs = stream(seed, tensor, s);
        return filled<std::uint32_t>(n, [&](std::uint32_t* out) { fill_bits(rs, begin, n, out); });
      },
      "seed"_a, "tensor"_a, "begin"_a, "n"_a, "stream"_a = "value", fill_doc);
  m.def(
      "normal_at",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t i, const py::handle& s) {
        return normal_at(stream(seed, tensor, s), i);
      },
      "seed"_a, "tensor"_a, "i"_a, "stream"_a = "value");
  m.def(
      "bits_at",
      [](std::uint64_t seed, const py::handle& tensor, std::int64_t i, const py::handle& s) {
        return bits_at(stream(seed, tensor, s), i);
      },
      "seed"_a, "tensor"_a, "i"_a, "stream"_a = "value");
  m.def(
      "philox4x32_10",
      [](std::array<std::uint32_t, 4> counter, std::array<std::uint32_t, 2> key) { return philox4x32_10(counter, key); },
      "counter"_a, "key"_a, "Ten rounds of Philox4x32 (philox.hpp).");

  py::class_<TensorViews>(m, "TensorViews",
                          "Tensors (torch, numpy: anything with __dlpack__) viewed in place as zo parameters.")
      .def(py::init<>())
      .def("add", &TensorViews::add, "name"_a, "tensor"_a,
           "Registers a view of the tensor's memory under `name`; returns its index.")
      .def("__len__", [](const TensorViews& v) { return v.params().params().size(); })
      .def("names",
           [](const TensorViews& v) {
             std::vector<std::string> names;
             for (const Param& p : v.params().params()) names.push_back(p.name);
             return names;
           })
      .def("numel", [](const TensorViews& v) { return v.params().numel(); })
      .def_property_readonly("device", &TensorViews::device, "'cpu', 'cuda:0', …: where the viewed tensors are.")
      .def("set_stream", &TensorViews::set_stream, "stream"_a,
           "The CUDA stream (torch.cuda.current_stream().cuda_stream) the passes over CUDA views are queued on.")
      .def("param",
           [](const TensorViews& v, const py::handle& which) {
             const Param& p = v.params().param(param_index(v.params(), which));
             return py::dict("name"_a = p.name, "dtype"_a = std::string(to_string(p.dtype)), "shape"_a = p.shape,
                             "key"_a = p.key, "numel"_a = p.numel);
           },
           "which"_a)
      .def("block_per_param", [](TensorViews& v) { v.params().block_per_param(); })
      .def("block_by_pattern", [](TensorViews& v, const std::string& pattern) { v.params().block_by_pattern(pattern); },
           "pattern"_a)
      .def("set_blocks",
           [](TensorViews& v, const std::vector<std::pair<std::string, std::vector<std::string>>>& blocks) {
             std::vector<Block> out;
             for (const auto& [name, members] : blocks) {
               Block b{.name = name};
               for (const std::string& member : members) b.params.push_back(param_index(v.params(), py::str(member)));
               out.push_back(std::move(b));
             }
             v.params().set_blocks(std::move(out));
           },
           "blocks"_a, "Explicit blocks: [(block name, [param names])]; every param in exactly one.")
      .def("blocks", [](const TensorViews& v) {
        py::list out;
        for (const Block& b : v.params().blocks()) out.append(py::make_tuple(b.name, py::cast(b.params)));
        return out;
      });

  const DirectionOptions dd;
  py::class_<PyDirection>(m, "Direction", "A structured direction over the views' current blocks (direction.hpp).")
      .def(py::init([](TensorViews& views, const std::string& kind, const std::string& distribution, double keep, int rank,
                       const std::string& order, int blocks_per_step, std::vector<double> block_weights, int granule) {
             DirectionOptions o;
             o.kind = direction_kind_from_string(kind);
             o.distribution = distribution_from_string(distribution);
             o.keep = keep;
             o.granule = granule;
             o.rank = rank;
             o.order = block_order_from_string(order);
             o.blocks_per_step = blocks_per_step;
             o.block_weights = std::move(block_weights);
             return PyDirection{&views, Direction(o, views.params())};
           }),
           "views"_a, "kind"_a = std::string(to_string(dd.kind)), "distribution"_a = std::string(to_string(dd.distribution)),
           "keep"_a = dd.keep, "rank"_a = dd.rank, "order"_a = std::string(to_string(dd.order)),
           "blocks_per_step"_a = dd.blocks_per_step, "block_weights"_a = std::vector<double>{}, "granule"_a = dd.granule, py::keep_alive<1, 2>())
      .def("active_blocks", [](const PyDirection& d, std::uint64_t seed, std::int64_t step) {
             return d.direction.active_blocks(seed, step);
           }, "run_seed"_a, "step"_a)
      .def("draw",
           [](const PyDirection& d, const std::vector<std::uint32_t>& blocks, std::uint64_t seed) {
             const Draw draw = d.direction.draw(d.views->params(), blocks, seed);
             return py::make_tuple(py::int_(draw.seed), double(draw.scale));
           },
           "blocks"_a, "seed"_a, "(seed, scale) of the probe drawn from `seed` over `blocks`.")
      .def("moving_numel", [](const PyDirection& d, const std::vector<std::uint32_t>& blocks) {
             return d.direction.moving_numel(d.views->params(), blocks);
           }, "blocks"_a)
      .def("fill",
           [](const PyDirection& d, const py::handle& which, std::uint64_t seed, double scale, std::int64_t begin, std::int64_t n) {
             const Param& p = d.views->params().param(param_index(d.views->params(), which));
             if (n < 0) n = p.numel - begin;
             return filled<float>(n, [&](float* out) { d.direction.fill(p, Draw{seed, float(scale)}, begin, n, out); });
           },
           "param"_a, "seed"_a, "scale"_a = 1.0, "begin"_a = 0, "n"_a = -1,
           "z of one param (by name or index) for the draw (seed, scale): the reference definition.")
      .def("perturb",
           [](PyDirection& d, const std::vector<std::uint32_t>& blocks, std::uint64_t seed, double scale, double alpha) {
             perturb(d.views->params(), d.direction, blocks, Draw{seed, float(scale)}, float(alpha));
           },
           "blocks"_a, "seed"_a, "scale"_a, "alpha"_a, "θ += alpha · z in place on the views of `blocks` (the fused kernel).");

  const EstimatorOptions ed;
  m.def(
      "estimate",
      [](TensorViews& views, const PyDirection& d, const py::function& loss, std::uint64_t run_seed, std::int64_t step,
         double eps, int queries, const std::string& difference) {
        const Estimator estimator({.eps = eps, .queries = queries, .difference = difference_from_string(difference)});
        const Loss call = [&loss] { return loss_value(loss()); };
        return estimate_dict(estimator.estimate(call, views.params(), d.direction, run_seed, step));
      },
      "views"_a, "direction"_a, "loss"_a, "run_seed"_a, "step"_a, "eps"_a = ed.eps, "queries"_a = ed.queries,
      "difference"_a = std::string(to_string(ed.difference)),
      "One estimate by the in-place protocol (+ε, −2ε, restore): {step, blocks, probes [(seed, scale, rho)], loss, "
      "evaluations, finite}.");
}

}  // namespace zo::python
