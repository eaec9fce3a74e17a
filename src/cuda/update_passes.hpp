// Internal: the work of one CUDA thread of the update pass, as host-and-device functions of (job,
// thread index), like passes.hpp. Each line is the CPU's (optimizer.cpp's visit, src/optim/rules/),
// written as z_math.hpp operations in the CPU's order with the CPU's fmas, so both round alike (the
// CPU's rules are compiled without fma contraction, their fmas written out). tests/cuda/update_passes_test.cpp runs these threads on the host
// against zo::Optimizer::step.
#pragma once

#include "passes.hpp"
#include "update_job.hpp"

#include <cstdint>

namespace zo::cuda::detail {

// θ of element i as float32, and back in the param's storage type (rounded once).
template <int Mode>
ZO_HOST_DEVICE float load_theta(const UpdateJob& j, std::int64_t i) {
  if constexpr (Mode == int(DType::f32)) {
    return static_cast<const float*>(j.theta)[i];
  } else if constexpr (Mode == int(DType::f16)) {
    return f16_to_f32(static_cast<const std::uint16_t*>(j.theta)[i]);
  } else {
    return bf16_to_f32(static_cast<const std::uint16_t*>(j.theta)[i]);
  }
}
template <int Mode>
ZO_HOST_DEVICE void store_theta(const UpdateJob& j, std::int64_t i, float value) {
  if constexpr (Mode == int(DType::f32)) {
    static_cast<float*>(j.theta)[i] = value;
  } else if constexpr (Mode == int(DType::f16)) {
    static_cast<std::uint16_t*>(j.theta)[i] = f32_to_f16(value);
  } else {
    static_cast<std::uint16_t*>(j.theta)[i] = f32_to_bf16(value);
  }
}

// rule.hpp's denominators: √fma(v, s, ζ), or √(v·s) + ζ outside the root.
ZO_HOST_DEVICE float denominator(const RuleConstants& r, float v, float s) {
  return r.zeta_outside_root ? zmath::add(zmath::sqrt(zmath::mul(v, s)), r.zeta)
                             : zmath::sqrt(zmath::fma(v, s, r.zeta));
}

// The rule's line for element i: θ and ĝ + λθ in, θ out; the state updated in place.
ZO_HOST_DEVICE float rule_step(const UpdateJob& j, std::int64_t i, float theta, float g) {
  const RuleConstants& r = j.rule;
  switch (r.code) {
    case RuleCode::sgd:  // θ −= η g
      return zmath::fma(-j.lr, g, theta);
    case RuleCode::sgd_momentum: {  // b = μ b + g;  θ −= η b
      float& b = j.state[0][i];
      b = zmath::fma(r.momentum, b, g);
      return zmath::fma(-j.lr, b, theta);
    }
    case RuleCode::sign_sgd: {  // θ −= η sign(g)
      const float s = zmath::sub(float(g > 0.0f), float(g < 0.0f));
      return zmath::fma(-j.lr, s, theta);
    }
    case RuleCode::rmsprop: {  // v = β₂ v + (1 − β₂) g²;  θ −= η g / den(v)
      float& v = j.state[0][i];
      v = zmath::fma(r.beta2, v, zmath::mul(zmath::mul(r.one_minus_beta2, g), g));
      return zmath::sub(theta, zmath::div(zmath::mul(j.lr, g), denominator(r, v, j.inv_bias2)));
    }
    case RuleCode::adamm:
    case RuleCode::adamm_amsgrad:
    case RuleCode::r_adazo: {  // m = β₁ m + (1 − β₁) g;  v from g² (adamm) or m² (r-adazo)
      float& m = j.state[0][i];
      float& v = j.state[1][i];
      m = zmath::fma(r.beta1, m, zmath::mul(r.one_minus_beta1, g));
      const float sq = r.code == RuleCode::r_adazo ? m : g;
      v = zmath::fma(r.beta2, v, zmath::mul(zmath::mul(r.one_minus_beta2, sq), sq));
      float vd = v;
      if (r.code == RuleCode::adamm_amsgrad) {  // v̂ = max(v̂, v), as std::max
        float& vhat = j.state[2][i];
        vhat = vhat < v ? v : vhat;
        vd = vhat;
      }
      const float step = zmath::div(zmath::mul(j.lr, zmath::mul(m, j.inv_bias1)), denominator(r, vd, j.inv_bias2));
      return zmath::sub(theta, step);
    }
  }
  return theta;
}

// Element i given each probe's z: the pending restore, ĝ + λθ, the rule (optimizer.cpp's visit).
template <int Mode>
ZO_HOST_DEVICE void update_element(const UpdateJob& j, std::int64_t i, const float* z) {
  float theta = load_theta<Mode>(j, i);
  if (j.restore_probe >= 0) theta = zmath::fma(j.restore_alpha, z[j.restore_probe], theta);
  float g = zmath::mul(j.coef[0], z[0]);
  for (int k = 1; k < j.probes; ++k) g = zmath::fma(j.coef[k], z[k], g);
  if (j.weight_decay != 0.0f) g = zmath::fma(j.weight_decay, theta, g);
  store_theta<Mode>(j, i, rule_step(j, i, theta, g));
}

// Threads of each update pass: one Philox counter (4 elements) each when z is drawn in the pass,
// one element each when it is read from the scratch.
ZO_HOST_DEVICE std::int64_t update_drawn_threads(const UpdateJob& j) { return (j.end + 3) / 4 - j.begin / 4; }
ZO_HOST_DEVICE std::int64_t update_scratch_threads(const UpdateJob& j) { return j.end - j.begin; }

// A dense direction: thread t draws every probe's z at counter c = begin / 4 + t (as dense_thread),
// then updates the elements 4c … 4c + 3 that lie in [begin, end).
template <int Mode>
ZO_HOST_DEVICE void update_drawn_thread(const UpdateJob& j, std::int64_t t) {
  const std::int64_t c = j.begin / 4 + t;
  const std::int64_t e0 = 4 * c;
  float z[4][kMaxUpdateProbes] = {};
  for (int k = 0; k < j.probes; ++k) {
    float raw[4];
    if (j.rademacher) {
      const std::uint32_t w = zmath::word_at(j.seed[k], j.key, kValueStream, std::uint64_t(e0) / 32);
      for (int q = 0; q < 4; ++q) raw[q] = hd::float_of(0x3f800000u | (((w >> ((e0 + q) % 32)) & 1u) << 31));
    } else {
      const zmath::Words w = zmath::stream_words(j.seed[k], j.key, kValueStream, std::uint64_t(c));
      zmath::normal_pair(w.w[0], w.w[1], raw[0], raw[1]);
      zmath::normal_pair(w.w[2], w.w[3], raw[2], raw[3]);
    }
    for (int q = 0; q < 4; ++q) z[q][k] = j.scale[k] != 1.0f ? zmath::mul(raw[q], j.scale[k]) : raw[q];
  }
  for (int q = 0; q < 4; ++q) {
    const std::int64_t i = e0 + q;
    if (i >= j.begin && i < j.end) update_element<Mode>(j, i, z[q]);
  }
}

// A sparse or low-rank direction: thread t updates element begin + t from the filled scratch.
template <int Mode>
ZO_HOST_DEVICE void update_scratch_thread(const UpdateJob& j, std::int64_t t) {
  float z[kMaxUpdateProbes] = {};
  for (int k = 0; k < j.probes; ++k) z[k] = j.z_scratch[std::int64_t(k) * j.stride + t];
  update_element<Mode>(j, j.begin + t, z);
}

}  // namespace zo::cuda::detail
