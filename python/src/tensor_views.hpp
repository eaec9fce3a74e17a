// Tensors of any DLPack producer (torch, numpy, …) seen in place as a zo::ParamSet.
//
// TensorViews::add(name, obj) reads obj.__dlpack_device__() and obj.__dlpack__(), checks that the
// tensor can be moved in place (one device: the CPU — page-locked host memory included —, or a CUDA
// device when zo is built with CUDA;
// float32, float16 or bfloat16; row-major contiguous; no memory shared with another view) and
// registers a view of its memory. Nothing is copied: zo's kernels write into the producer's memory.
// Views of CUDA tensors get zo::cuda::DeviceBackend as their ParamSet's backend, so every pass and
// update over them runs on the GPU, on the stream set by set_stream. The DLPack capsule is consumed and its
// managed tensor kept until the views are destroyed, which keeps the memory alive. Every refusal is a
// zo::Error naming the tensor.
#pragma once

#include "zo/core/params.hpp"

#if defined(ZO_WITH_CUDA)
#include "zo/cuda/backend.hpp"
#endif

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
  // "cpu", "cuda:0", … (the views' device; "cpu" while there are none).
  std::string device() const;
  // The CUDA stream the passes over CUDA views are queued on (a cudaStream_t as an integer, e.g.
  // torch.cuda.current_stream().cuda_stream; 0: the legacy default stream). Nothing for CPU views.
  void set_stream(std::uintptr_t stream);

 private:
#if defined(ZO_WITH_CUDA)
  cuda::DeviceBackend backend_;  // before params_, which points at it
#endif
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
