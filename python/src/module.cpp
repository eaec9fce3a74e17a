// zo._core: the C++ core of the Python package zo (docs/python.md). Every zo::Error becomes a
// zo.Error (a RuntimeError) carrying the C++ message; a non-finite loss under nan_policy "stop"
// becomes zo.NonFiniteLoss, a subclass.
#include "bindings.hpp"
#include "session.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"

namespace py = pybind11;

#ifndef ZO_VERSION
#define ZO_VERSION "unknown"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "zo's C++ core: zeroth-order estimators, update rules and directions on tensors viewed in place";
  m.attr("__version__") = ZO_VERSION;
#if defined(ZO_WITH_CUDA)
  m.attr("cuda") = true;  // CUDA tensors are moved in place on their device (zo::cuda, docs/cuda.md)
#else
  m.attr("cuda") = false;
#endif
  m.attr("Z_STREAM_VERSION") = zo::kZStreamVersion;  // the z streams directions draw from (random.hpp)
  // Translators run last-registered first: the subclass goes after its base.
  auto& error = py::register_exception<zo::Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<zo::python::NonFiniteLoss>(m, "NonFiniteLoss", error.ptr());
  zo::python::bind_core(m);
  zo::python::bind_minimize(m);
  zo::python::bind_session(m);
}
