// Tensors of any DLPack producer (torch, numpy, …) seen in place as a zo::ParamSet.
//
// TensorViews::add(name, obj) reads obj.__dlpack_device__() and obj.__dlpack__(), checks that the
// tensor can be moved in place (one device, the CPU; float32, float16 or bfloat16; row-major
// contiguous; no memory shared with another view) and registers a view of its memory. Nothing is
// copied: zo's kernels write into the producer's memory. The DLPack capsule is consumed and its
// managed tensor kept until the views are destroyed, which keeps the memory alive. Every refusal is a
// zo::Error naming the tensor.
#pragma once

#include "zo/core/params.hpp"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

struct DLManagedTensor;

namespace zo::python {

class TensorViews {
 public:
  TensorViews() = default;
  TensorViews(const TensorViews&) = delete;
  TensorViews& operator=(const TensorViews&) = delete;
  ~TensorViews();

  // Registers `obj` under `name`; returns its index. Throws zo::Error (see above).
  std::size_t add(const std::string& name, const pybind11::handle& obj);

  ParamSet& params() { return params_; }
  const ParamSet& params() const { return params_; }

 private:
  ParamSet params_;
  std::vector<DLManagedTensor*> owned_;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges_;  // [begin, end) bytes per view
  int device_type_ = 0;
  int device_id_ = 0;
  std::string first_name_;
};

// "cpu", "cuda:0", … for a DLPack device.
std::string device_name(int device_type, int device_id);

}  // namespace zo::python
