#include "zo/nn/sampling.hpp"

#include "zo/core/random.hpp"
#include "zo/util/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace zo::nn {

void SamplingOptions::validate() const {
  if (!(temperature >= 0.0) || !std::isfinite(temperature))
    fail("option 'temperature' = {}: must be a finite number >= 0 (0 = greedy)", temperature);
  if (top_k < 0) fail("option 'top-k' = {}: must be >= 0 (0 = no top-k filter)", top_k);
  if (!(top_p > 0.0 && top_p <= 1.0)) fail("option 'top-p' = {}: must be in (0, 1] (1 = no top-p filter)", top_p);
}

std::vector<std::pair<std::int32_t, double>> sampling_distribution(std::span<const float> logits,
                                                                   const SamplingOptions& options) {
  options.validate();
  if (logits.empty()) fail("sampling: no logits");
  const auto V = std::int64_t(logits.size());
  if (options.greedy()) {
    const auto best = std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    return {{best, 1.0}};
  }
  // Softmax of logits / τ in double, shifted by the maximum so that exp never overflows.
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  for (std::int64_t i = 0; i < V; ++i) p[std::size_t(i)] = std::exp((double(logits[std::size_t(i)]) - max) / options.temperature);

  // Rank order: most probable first, the lower id on a tie. Only the top k need ordering.
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](std::int32_t a, std::int32_t b) {
    return p[std::size_t(a)] != p[std::size_t(b)] ? p[std::size_t(a)] > p[std::size_t(b)] : a < b;
  };
  const std::int64_t k = options.top_k > 0 ? std::min(options.top_k, V) : V;
  if (k < V)
    std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
  else
    std::sort(order.begin(), order.end(), before);
  order.resize(std::size_t(k));

  // Top-p acts on the top-k tokens' distribution, renormalised (as HF applies its warpers in turn).
  double kept_mass = 0.0;
  for (std::int32_t id : order) kept_mass += p[std::size_t(id)];
  std::size_t keep = order.size();
  if (options.top_p < 1.0) {
    double cumulative = 0.0;
    for (std::size_t i = 0; i < order.size(); ++i) {
      cumulative += p[std::size_t(order[i])] / kept_mass;
      if (cumulative >= options.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double mass = 0.0;
  for (std::size_t i = 0; i < keep; ++i) mass += p[std::size_t(order[i])];
  std::vector<std::pair<std::int32_t, double>> out(keep);
  for (std::size_t i = 0; i < keep; ++i) out[i] = {order[i], p[std::size_t(order[i])] / mass};
  return out;
}

double sampling_uniform(std::uint64_t seed, std::uint64_t step) {
  // A stream of its own (key "sampling", the selector stream): draws for generation never coincide
  // with a perturbation's z under the same seed.
  const RandomStream stream{seed, tensor_key("sampling"), Stream::selector};
  const std::uint32_t a = bits_at(stream, std::int64_t(2 * step)), b = bits_at(stream, std::int64_t(2 * step + 1));
  return (double(a >> 5) * 67108864.0 + double(b >> 6)) / 9007199254740992.0;  // (27 + 26 bits) / 2^53
}

std::int32_t sample_token(std::span<const float> logits, const SamplingOptions& options, std::uint64_t step) {
  const auto dist = sampling_distribution(logits, options);
  if (dist.size() == 1) return dist[0].first;
  const double u = sampling_uniform(options.seed, step);
  double cumulative = 0.0;
  for (const auto& [id, prob] : dist) {
    cumulative += prob;
    if (cumulative > u) return id;
  }
  return dist.back().first;  // u within rounding of 1
}

}  // namespace zo::nn
