// DeviceBackend: the CUDA passes behind zo::Backend; state in cudaMalloc'd memory, copies on the
// backend's stream, waited for before returning.
#include "zo/cuda/backend.hpp"

#include "host.hpp"
#include "zo/cuda/kernels.hpp"
#include "zo/cuda/update.hpp"
#include "zo/util/error.hpp"

#include <cuda_runtime.h>

namespace zo::cuda {

void DeviceBackend::perturb(ParamSet& params, const Direction& direction, std::span<const std::uint32_t> blocks,
                            const Draw& draw, float alpha) const {
  zo::cuda::perturb(params, direction, blocks, draw, alpha, stream_);
}

void DeviceBackend::update(ParamSet& params, const Direction& direction, const Estimate& estimate,
                           const OptimizerOptions& options, std::span<const ParamUpdate> moving) const {
  zo::cuda::update(params, direction, estimate, options, moving, stream_);
}

float* DeviceBackend::allocate_floats(std::int64_t numel) const {
  detail::require_device();
  const auto bytes = std::size_t(numel) * sizeof(float);
  void* p = nullptr;
  detail::check(cudaMalloc(&p, bytes), fmt::format("allocating {} floats of optimizer state", numel));
  const cudaError_t e = cudaMemsetAsync(p, 0, bytes, static_cast<cudaStream_t>(stream_));
  if (e != cudaSuccess) {
    (void)cudaFree(p);
    detail::check(e, "zeroing optimizer state");
  }
  return static_cast<float*>(p);
}

void DeviceBackend::release_floats(float* data) const noexcept {
  if (data != nullptr) (void)cudaFree(data);
}

void DeviceBackend::download_floats(const float* data, std::int64_t numel, float* host) const {
  const auto s = static_cast<cudaStream_t>(stream_);
  detail::check(cudaMemcpyAsync(host, data, std::size_t(numel) * sizeof(float), cudaMemcpyDeviceToHost, s),
                "copying optimizer state to the host");
  detail::check(cudaStreamSynchronize(s), "waiting for optimizer state");
}

void DeviceBackend::upload_floats(const float* host, std::int64_t numel, float* data) const {
  const auto s = static_cast<cudaStream_t>(stream_);
  detail::check(cudaMemcpyAsync(data, host, std::size_t(numel) * sizeof(float), cudaMemcpyHostToDevice, s),
                "copying optimizer state to the device");
  detail::check(cudaStreamSynchronize(s), "waiting for optimizer state");
}

}  // namespace zo::cuda
