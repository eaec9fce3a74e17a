#include "zo/tasks/victim.hpp"

#include "zo/util/error.hpp"
#include "zo/core/philox.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>

namespace zo::tasks {

namespace {

// Uniform [0, 1) number i of a Philox stream keyed by (seed, purpose): 24 random bits a value.
struct Uniforms {
  std::uint64_t seed;
  std::uint32_t purpose;
  float operator()(std::uint64_t i) const {
    const PhiloxCounter c = philox4x32_10(
        {std::uint32_t(i / 4), std::uint32_t((i / 4) >> 32), std::uint32_t(seed >> 32), purpose},
        {std::uint32_t(seed), 0x76696374u /* "vict" */});
    return float(c[i % 4] >> 8) * (1.0f / 16777216.0f);
  }
};

constexpr std::uint32_t kPurposeInit = 1;
constexpr std::uint32_t kPurposeShuffle = 2;

}  // namespace

Mlp::Mlp(std::vector<std::int64_t> sizes) : sizes_(std::move(sizes)) {
  if (sizes_.size() < 2) fail("MLP sizes: {} entries, need at least 2 (inputs, classes)", sizes_.size());
  for (std::size_t i = 0; i < sizes_.size(); ++i)
    if (sizes_[i] < 1) fail("MLP sizes[{}] = {}: must be >= 1", i, sizes_[i]);
  std::int64_t total = 0;
  for (int l = 1; l <= layers(); ++l) {
    offsets_.push_back(total);
    total += sizes_[l] * sizes_[l - 1] + sizes_[l];
  }
  params_.assign(std::size_t(total), 0.0f);
}

std::span<float> Mlp::weight(int l) {
  if (l < 1 || l > layers()) fail("MLP layer {} outside [1, {}]", l, layers());
  return {params_.data() + offsets_[l - 1], std::size_t(sizes_[l] * sizes_[l - 1])};
}
std::span<float> Mlp::bias(int l) {
  if (l < 1 || l > layers()) fail("MLP layer {} outside [1, {}]", l, layers());
  return {params_.data() + offsets_[l - 1] + sizes_[l] * sizes_[l - 1], std::size_t(sizes_[l])};
}
std::span<const float> Mlp::weight(int l) const { return const_cast<Mlp*>(this)->weight(l); }
std::span<const float> Mlp::bias(int l) const { return const_cast<Mlp*>(this)->bias(l); }

void Mlp::init(std::uint64_t seed) {
  const Uniforms u{seed, kPurposeInit};
  std::uint64_t i = 0;
  for (int l = 1; l <= layers(); ++l) {
    const float bound = 1.0f / std::sqrt(float(sizes_[l - 1]));
    for (float& w : weight(l)) w = (2.0f * u(i++) - 1.0f) * bound;
    for (float& b : bias(l)) b = (2.0f * u(i++) - 1.0f) * bound;
  }
}

namespace {

// out (n × o) = in (n × k) · Wᵀ + b, W (o × k).
void linear(const float* in, std::int64_t n, std::int64_t k, const float* w, const float* b, std::int64_t o,
            float* out) {
  for (std::int64_t r = 0; r < n; ++r) std::copy(b, b + o, out + r * o);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(o), int(k), 1.0f, in, int(k), w, int(k), 1.0f, out,
              int(o));
}

}  // namespace

void Mlp::forward(const float* x, std::int64_t n, float* logits) const {
  if (n < 1) return;
  std::vector<float> a, z;
  const float* in = x;
  for (int l = 1; l <= layers(); ++l) {
    const bool last = l == layers();
    float* out = last ? logits : nullptr;
    if (!last) {
      z.resize(std::size_t(n * sizes_[l]));
      out = z.data();
    }
    linear(in, n, sizes_[l - 1], weight(l).data(), bias(l).data(), sizes_[l], out);
    if (!last) {
      for (float& v : z) v = std::max(v, 0.0f);
      std::swap(a, z);
      in = a.data();
    }
  }
}

void log_softmax(float* values, std::int64_t n, std::int64_t k) {
  for (std::int64_t r = 0; r < n; ++r) {
    float* v = values + r * k;
    const float m = *std::max_element(v, v + k);
    double s = 0.0;
    for (std::int64_t j = 0; j < k; ++j) s += std::exp(double(v[j] - m));
    const float lse = m + float(std::log(s));
    for (std::int64_t j = 0; j < k; ++j) v[j] -= lse;
  }
}

double Mlp::loss_and_gradient(const float* x, const std::uint8_t* labels, std::int64_t n, float* grad) const {
  if (n < 1) fail("loss_and_gradient: batch of {} examples, need >= 1", n);
  const int L = layers();
  // acts[l] = input of layer l+1 (acts[0] = x), pre[l] = pre-activation of layer l (1-based).
  std::vector<std::vector<float>> acts(static_cast<std::size_t>(L));
  std::vector<std::vector<float>> pre(static_cast<std::size_t>(L) + 1);
  const float* in = x;
  for (int l = 1; l <= L; ++l) {
    pre[l].resize(std::size_t(n * sizes_[l]));
    linear(in, n, sizes_[l - 1], weight(l).data(), bias(l).data(), sizes_[l], pre[l].data());
    if (l < L) {
      acts[l] = pre[l];
      for (float& v : acts[l]) v = std::max(v, 0.0f);
      in = acts[l].data();
    }
  }
  const std::int64_t k = classes();
  std::vector<float> dz = pre[L];
  log_softmax(dz.data(), n, k);
  double loss = 0.0;
  const float inv_n = 1.0f / float(n);
  for (std::int64_t r = 0; r < n; ++r) {
    const int t = labels[r];
    if (t >= k) fail("label {} at batch row {} outside [0, {})", t, r, k);
    loss -= dz[std::size_t(r * k + t)];
    for (std::int64_t j = 0; j < k; ++j) {
      float& v = dz[std::size_t(r * k + j)];
      v = (std::exp(v) - (j == t ? 1.0f : 0.0f)) * inv_n;
    }
  }
  std::vector<float> da;
  for (int l = L; l >= 1; --l) {
    const std::int64_t o = sizes_[l], i = sizes_[l - 1];
    const float* a_prev = l == 1 ? x : acts[l - 1].data();
    float* gw = grad + offsets_[l - 1];
    float* gb = gw + o * i;
    // dW (o × i) = dzᵀ (o × n) · a_prev (n × i)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(o), int(i), int(n), 1.0f, dz.data(), int(o), a_prev,
                int(i), 0.0f, gw, int(i));
    for (std::int64_t j = 0; j < o; ++j) gb[j] = 0.0f;
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t j = 0; j < o; ++j) gb[j] += dz[std::size_t(r * o + j)];
    if (l > 1) {
      // da (n × i) = dz (n × o) · W (o × i); then through the ReLU of layer l−1.
      da.assign(std::size_t(n * i), 0.0f);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(i), int(o), 1.0f, dz.data(), int(o),
                  weight(l).data(), int(i), 0.0f, da.data(), int(i));
      const auto& z = pre[l - 1];
      for (std::size_t e = 0; e < da.size(); ++e)
        if (z[e] <= 0.0f) da[e] = 0.0f;
      dz.swap(da);
    }
  }
  return loss / double(n);
}

double accuracy(const Mlp& model, const ImageDataset& data) {
  if (data.pixels_per_image() != model.inputs())
    fail("model takes {} inputs but images have {}×{} = {} pixels", model.inputs(), data.rows, data.cols,
         data.pixels_per_image());
  const std::int64_t batch = 500, p = data.pixels_per_image(), k = model.classes();
  std::vector<float> x(std::size_t(batch * p)), logits(std::size_t(batch * k));
  std::int64_t correct = 0;
  for (std::int64_t s = 0; s < data.count; s += batch) {
    const std::int64_t n = std::min(batch, data.count - s);
    for (std::int64_t r = 0; r < n; ++r) data.image(s + r, x.data() + r * p);
    model.forward(x.data(), n, logits.data());
    for (std::int64_t r = 0; r < n; ++r) {
      const float* v = logits.data() + r * k;
      if (std::max_element(v, v + k) - v == data.labels[std::size_t(s + r)]) ++correct;
    }
  }
  return data.count > 0 ? double(correct) / double(data.count) : 0.0;
}

void VictimTrainOptions::validate() const {
  for (std::size_t i = 0; i < hidden.size(); ++i)
    if (hidden[i] < 1) fail("field 'hidden[{}]' = {}: must be >= 1", i, hidden[i]);
  if (epochs < 1) fail("field 'epochs' = {}: must be >= 1", epochs);
  if (batch < 1) fail("field 'batch' = {}: must be >= 1", batch);
  if (!(lr > 0.0) || !std::isfinite(lr)) fail("field 'lr' = {}: must be > 0 and finite", lr);
  if (!(beta1 >= 0.0 && beta1 < 1.0)) fail("field 'beta1' = {}: must be in [0, 1)", beta1);
  if (!(beta2 >= 0.0 && beta2 < 1.0)) fail("field 'beta2' = {}: must be in [0, 1)", beta2);
  if (!(adam_eps > 0.0)) fail("field 'adam_eps' = {}: must be > 0", adam_eps);
  if (!(weight_decay >= 0.0)) fail("field 'weight_decay' = {}: must be >= 0", weight_decay);
}

Mlp train_victim(const ImageDataset& train, const ImageDataset* test, const VictimTrainOptions& options,
                 const std::function<void(const EpochReport&)>& progress, int classes) {
  options.validate();
  if (train.count < 1) fail("training set is empty");
  std::vector<std::int64_t> sizes = {train.pixels_per_image()};
  sizes.insert(sizes.end(), options.hidden.begin(), options.hidden.end());
  sizes.push_back(classes);
  Mlp model(sizes);
  model.init(options.seed);

  const auto start = std::chrono::steady_clock::now();
  const std::int64_t p = train.pixels_per_image(), n_total = train.count;
  const std::int64_t steps_per_epoch = (n_total + options.batch - 1) / options.batch;
  const std::int64_t total_steps = steps_per_epoch * options.epochs;
  std::vector<float> grad(model.params().size()), m(grad.size(), 0.0f), v(grad.size(), 0.0f);
  // Which entries are weights (decayed) rather than biases.
  std::vector<std::uint8_t> is_weight(grad.size(), 0);
  for (int l = 1; l <= model.layers(); ++l) {
    const auto w = model.weight(l);
    std::fill(is_weight.begin() + (w.data() - model.params().data()),
              is_weight.begin() + (w.data() - model.params().data()) + std::ptrdiff_t(w.size()), 1);
  }
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_total));
  std::vector<float> x(static_cast<std::size_t>(options.batch * p));
  std::vector<std::uint8_t> y(static_cast<std::size_t>(options.batch));
  std::int64_t t = 0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    // Fisher–Yates shuffle from (seed, epoch).
    for (std::int64_t i = 0; i < n_total; ++i) order[std::size_t(i)] = i;
    const Uniforms u{options.seed ^ (std::uint64_t(epoch) * 0x9E3779B97F4A7C15ull), kPurposeShuffle};
    for (std::int64_t i = n_total - 1; i > 0; --i) {
      const auto j = std::min<std::int64_t>(i, std::int64_t(u(std::uint64_t(i)) * float(i + 1)));
      std::swap(order[std::size_t(i)], order[std::size_t(j)]);
    }
    double loss_sum = 0.0;
    for (std::int64_t s = 0; s < steps_per_epoch; ++s) {
      const std::int64_t begin = s * options.batch, n = std::min(options.batch, n_total - begin);
      for (std::int64_t r = 0; r < n; ++r) {
        const std::int64_t i = order[std::size_t(begin + r)];
        train.image(i, x.data() + r * p);
        y[std::size_t(r)] = train.labels[std::size_t(i)];
      }
      loss_sum += model.loss_and_gradient(x.data(), y.data(), n, grad.data());
      ++t;
      const double lr =
          options.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * double(t - 1) / double(total_steps)));
      const float b1 = float(options.beta1), b2 = float(options.beta2);
      const float c1 = float(1.0 - std::pow(options.beta1, double(t)));
      const float c2 = float(1.0 - std::pow(options.beta2, double(t)));
      const float step = float(lr) / c1, eps = float(options.adam_eps), wd = float(options.weight_decay);
      auto theta = model.params();
      for (std::size_t e = 0; e < grad.size(); ++e) {
        const float g = grad[e] + (is_weight[e] ? wd * theta[e] : 0.0f);
        m[e] = b1 * m[e] + (1.0f - b1) * g;
        v[e] = b2 * v[e] + (1.0f - b2) * g * g;
        theta[e] -= step * m[e] / (std::sqrt(v[e] / c2) + eps);
      }
    }
    EpochReport rep;
    rep.epoch = epoch;
    rep.train_loss = loss_sum / double(steps_per_epoch);
    rep.test_accuracy = test ? accuracy(model, *test) : std::numeric_limits<double>::quiet_NaN();
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress) progress(rep);
  }
  return model;
}

}  // namespace zo::tasks
