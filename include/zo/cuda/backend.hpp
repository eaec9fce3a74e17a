// CUDA device memory as a ParamSet's backend (zo/core/backend.hpp, zo/optim/update_backend.hpp):
// after set_backend(&backend), zo::perturb runs zo::cuda::perturb, and zo::Optimizer keeps its state
// in device memory and steps through zo::cuda::update, so the estimators, the step driver, replay and
// zo.torch run on the GPU unchanged. Work is queued on the backend's stream (a cudaStream_t;
// nullptr, the default: the legacy default stream, which PyTorch's default stream is); state copies
// to and from the host wait for it. Kernels launch and state is allocated on the calling thread's
// current device (cudaSetDevice): with several GPUs, make the params' device current around the calls
// (zo.torch does, from the tensors' device), and give the backend a stream of that device.
#pragma once

#include "zo/optim/update_backend.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace zo::cuda {

class DeviceBackend final : public UpdateBackend {
 public:
  explicit DeviceBackend(void* stream = nullptr) : stream_(stream) {}
  void set_stream(void* stream) { stream_ = stream; }
  void* stream() const { return stream_; }

  std::string_view name() const override { return "CUDA device"; }
  void perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks, const Draw& draw,
               float alpha) const override;
  void update(ParamSet& params, const Direction& direction, const Estimate& estimate, const OptimizerOptions& options,
              std::span<const ParamUpdate> moving) const override;
  // Device memory (cudaMalloc), zeroed on the stream; throws zo::Error naming the size when it fails.
  float* allocate_floats(std::int64_t numel) const override;
  void release_floats(float* data) const noexcept override;
  void download_floats(const float* data, std::int64_t numel, float* host) const override;
  void upload_floats(const float* host, std::int64_t numel, float* data) const override;

 private:
  void* stream_;
};

}  // namespace zo::cuda
