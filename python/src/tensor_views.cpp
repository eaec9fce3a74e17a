#include "tensor_views.hpp"

#include "zo/util/error.hpp"

#include <dlpack/dlpack.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace py = pybind11;

namespace zo::python {

namespace {

std::string dtype_name(const DLDataType& t) {
  if (t.lanes != 1) return fmt::format("a vector type ({} lanes)", t.lanes);
  switch (t.code) {
    case kDLFloat: return fmt::format("float{}", t.bits);
    case kDLBfloat: return fmt::format("bfloat{}", t.bits);
    case kDLInt: return fmt::format("int{}", t.bits);
    case kDLUInt: return t.bits == 1 ? std::string("bool") : fmt::format("uint{}", t.bits);
    case kDLComplex: return fmt::format("complex{}", t.bits);
    default: return fmt::format("DLPack type code {} ({} bits)", int(t.code), t.bits);
  }
}

}  // namespace

std::string device_name(int device_type, int device_id) {
  switch (device_type) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return fmt::format("cuda:{}", device_id);
    case kDLCUDAHost: return "cuda-host";
    case kDLCUDAManaged: return fmt::format("cuda-managed:{}", device_id);
    case kDLROCM: return fmt::format("rocm:{}", device_id);
    case kDLMetal: return fmt::format("metal:{}", device_id);
    case kDLVulkan: return fmt::format("vulkan:{}", device_id);
    case kDLOpenCL: return fmt::format("opencl:{}", device_id);
    default: return fmt::format("DLPack device {}:{}", device_type, device_id);
  }
}

std::string TensorViews::device() const {
  return owned_.empty() ? std::string("cpu") : device_name(device_type_, device_id_);
}

void TensorViews::set_stream(std::uintptr_t stream) {
#if defined(ZO_WITH_CUDA)
  backend_.set_stream(reinterpret_cast<void*>(stream));
#else
  (void)stream;
#endif
}

TensorViews::~TensorViews() {
  for (DLManagedTensor* t : owned_) {
    if (t != nullptr && t->deleter != nullptr) t->deleter(t);
  }
}

std::size_t TensorViews::add(const std::string& name, const py::handle& obj) {
  if (!py::hasattr(obj, "__dlpack__") || !py::hasattr(obj, "__dlpack_device__")) {
    fail("tensor '{}': a {} is not a tensor (it has no __dlpack__): pass torch tensors or numpy arrays", name,
         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  }
  const py::tuple device = obj.attr("__dlpack_device__")();
  int type = py::int_(device[0]);
  int id = py::int_(device[1]);
  if (type == kDLCUDAHost) {  // page-locked host memory (torch's pin_memory()): the CPU passes move it in place
    type = kDLCPU;
    id = 0;
  }
  if (!owned_.empty() && (type != device_type_ || id != device_id_)) {
    fail("tensor '{}' is on {} but tensor '{}' is on {}: all parameters must be on one device", name,
         device_name(type, id), first_name_, device_name(device_type_, device_id_));
  }
#if defined(ZO_WITH_CUDA)
  if (type != kDLCPU && type != kDLCUDA) {
    fail("tensor '{}' is on {}: zo moves CPU and CUDA tensors only", name, device_name(type, id));
  }
  if (type == kDLCUDA) params_.set_backend(&backend_);
#else
  if (type != kDLCPU) {
    fail("tensor '{}' is on {}: this zo was built without CUDA and moves CPU tensors only (move the model to the "
         "CPU with .cpu())",
         name, device_name(type, id));
  }
#endif

  py::object capsule = obj.attr("__dlpack__")();
  PyObject* raw = capsule.ptr();
  if (!PyCapsule_IsValid(raw, "dltensor")) {
    fail("tensor '{}': __dlpack__ did not return an unused 'dltensor' capsule", name);
  }
  auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(raw, "dltensor"));
  if (managed == nullptr) throw py::error_already_set();
  // The capsule is consumed: from here on this object owns the managed tensor (DLPack's protocol).
  PyCapsule_SetName(raw, "used_dltensor");
  PyCapsule_SetDestructor(raw, nullptr);
  owned_.push_back(managed);
  if (owned_.size() == 1) {
    device_type_ = type;
    device_id_ = id;
    first_name_ = name;
  }

  const DLTensor& t = managed->dl_tensor;
  DType dtype;
  if (t.dtype.lanes == 1 && t.dtype.code == kDLFloat && t.dtype.bits == 32) {
    dtype = DType::f32;
  } else if (t.dtype.lanes == 1 && t.dtype.code == kDLFloat && t.dtype.bits == 16) {
    dtype = DType::f16;
  } else if (t.dtype.lanes == 1 && t.dtype.code == kDLBfloat && t.dtype.bits == 16) {
    dtype = DType::bf16;
  } else {
    fail("tensor '{}' has dtype {}: zo moves float32, float16 or bfloat16 tensors", name, dtype_name(t.dtype));
  }
  std::vector<std::int64_t> shape(t.shape, t.shape + t.ndim);
  if (t.strides != nullptr) {
    std::int64_t expected = 1;
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (t.shape[d] != 1 && t.strides[d] != expected) {
        fail("tensor '{}' is not contiguous (shape [{}], strides [{}]): zo moves parameters in place and needs "
             "row-major contiguous memory (use .contiguous() before handing the tensor over)",
             name, fmt::join(shape, ", "), fmt::join(std::vector<std::int64_t>(t.strides, t.strides + t.ndim), ", "));
      }
      expected *= t.shape[d];
    }
  }
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  const std::size_t index = params_.add(name, dtype, shape, data);

  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const auto end = begin + std::uintptr_t(params_.param(index).numel) * size_of(dtype);
  for (std::size_t i = 0; i < ranges_.size(); ++i) {
    if (begin < ranges_[i].second && ranges_[i].first < end) {
      fail("tensor '{}' shares memory with tensor '{}': each parameter must be passed once (tied weights once)", name,
           params_.param(i).name);
    }
  }
  ranges_.emplace_back(begin, end);
  return index;
}

}  // namespace zo::python
