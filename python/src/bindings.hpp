// The parts of the extension module zo._core, one function per source file (module.cpp calls them).
#pragma once

#include <pybind11/pybind11.h>

namespace zo::python {

void bind_core(pybind11::module_& m);      // bind_core.cpp: random streams, tensor views, directions, estimates
void bind_minimize(pybind11::module_& m);  // bind_minimize.cpp: zo::minimize
void bind_session(pybind11::module_& m);   // bind_session.cpp: the engine under zo.torch.ZOOptimizer

}  // namespace zo::python
