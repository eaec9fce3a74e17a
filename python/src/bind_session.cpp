// zo._core.Session: the engine under zo.torch.ZOOptimizer (session.hpp).
#include "bindings.hpp"
#include "session.hpp"

#include <pybind11/stl.h>

namespace py = pybind11;
using namespace pybind11::literals;

namespace zo::python {

void bind_session(py::module_& m) {
  py::class_<Session>(m, "Session", "ZO steps on tensors viewed in place, with param groups, ledger rows and replay.")
      .def(py::init<const py::dict&, std::string>(), "options"_a, "blocks"_a = "tensor")
      .def("step", &Session::step, "views"_a, "group_of"_a, "groups"_a, "loss"_a,
           "One step; returns its ledger row. Raises zo.NonFiniteLoss under nan_policy 'stop'.")
      .def("take_aborted", &Session::take_aborted, "The row of the last abandoned step (None if none), once.")
      .def("replay", &Session::replay, "views"_a, "group_of"_a, "rows"_a,
           "Applies ledger rows (each with 'groups') to the base values from step 0; returns the steps applied "
           "(aborted rows not counted).")
      .def("state_dict", &Session::state_dict)
      .def("load_state_dict", &Session::load_state_dict, "state"_a, "views"_a, "group_of"_a, "groups"_a)
      .def_property_readonly("steps", &Session::steps)
      .def_property_readonly("blocks", &Session::blocks)
      .def_property_readonly("state_bytes", &Session::state_bytes)
      .def("options", &Session::options)
      .def("layout", &Session::layout);
}

}  // namespace zo::python
