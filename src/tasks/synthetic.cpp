// Synthetic objectives (synthetic.hpp), evaluated in double.
//
// Start points x0 (all coordinates equal; the same at every d):
//   quadratic   1     every curvature contributes: f(x0) = ½ Σ c_i.
//   rosenbrock  0     the classic high-dimensional start; f(x0) = d − 1 and the path to 1 follows the
//                     curved valley x_{i+1} = x_i², Rosenbrock's difficulty.
//   levy        2     w = 1.25: inside the global minimum's basin of each coordinate's term
//                     (≈ (0.15, 2.66) per coordinate), away from 1 where the terms are steep; the
//                     run measures convergence speed rather than luck in escaping local minima.
//   ackley      0.4   inside (−0.5, 0.5), the basin of 0 for every coordinate's cosine term, where both
//                     terms pull towards 0 (at integers and half-integers the cosine term is
//                     stationary; far out, |x| ≫ 1, the function is flat).
#include "zo/tasks/synthetic.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"

#include <cmath>
#include <numbers>

namespace zo::tasks {

std::string_view to_string(SyntheticFunction f) {
  switch (f) {
    case SyntheticFunction::quadratic: return "quadratic";
    case SyntheticFunction::rosenbrock: return "rosenbrock";
    case SyntheticFunction::levy: return "levy";
    case SyntheticFunction::ackley: return "ackley";
  }
  return "unknown";
}

SyntheticFunction synthetic_function_from_string(std::string_view name) {
  for (auto f : {SyntheticFunction::quadratic, SyntheticFunction::rosenbrock, SyntheticFunction::levy,
                 SyntheticFunction::ackley}) {
    if (to_string(f) == name) return f;
  }
  fail("unknown synthetic function '{}': expected one of quadratic, rosenbrock, levy, ackley", name);
}

void SyntheticOptions::validate() const {
  const std::int64_t min_dim = function == SyntheticFunction::rosenbrock ? 2 : 1;
  if (dim < min_dim) fail("synthetic option dim = {}: must be >= {} for {}", dim, min_dim, to_string(function));
  if (!(std::isfinite(condition) && condition >= 1.0))
    fail("synthetic option condition = {}: must be finite and >= 1", condition);
  if (!(std::isfinite(noise) && noise >= 0.0)) fail("synthetic option noise = {}: must be finite and >= 0", noise);
}

Synthetic::Synthetic(SyntheticOptions options) : options_(options) { options_.validate(); }

namespace {

constexpr double kPi = std::numbers::pi;

// ½ Σ c_i x_i², c_i = condition^(i/(d−1)): the ratio r = condition^(1/(d−1)) is applied by
// multiplication (relative drift <= d·2⁻⁵³, far below float inputs' rounding).
double quadratic(std::span<const float> x, double condition) {
  const std::size_t d = x.size();
  const double r = d > 1 ? std::pow(condition, 1.0 / double(d - 1)) : 1.0;
  double c = 1.0, sum = 0.0;
  for (std::size_t i = 0; i < d; ++i) {
    const double xi = x[i];
    sum += c * xi * xi;
    c *= r;
  }
  return 0.5 * sum;
}

double rosenbrock(std::span<const float> x) {
  double sum = 0.0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    const double xi = x[i], xn = x[i + 1];
    const double a = xn - xi * xi, b = 1.0 - xi;
    sum += 100.0 * a * a + b * b;
  }
  return sum;
}

// f = sin²(πw₁) + Σ_{i<d} (w_i − 1)² [1 + 10 sin²(πw_i + 1)] + (w_d − 1)² [1 + sin²(2πw_d)]
double levy(std::span<const float> x) {
  const std::size_t d = x.size();
  const auto w = [&](std::size_t i) { return 1.0 + (double(x[i]) - 1.0) / 4.0; };
  const double s1 = std::sin(kPi * w(0));
  double sum = s1 * s1;
  for (std::size_t i = 0; i + 1 < d; ++i) {
    const double wi = w(i);
    const double s = std::sin(kPi * wi + 1.0);
    sum += (wi - 1.0) * (wi - 1.0) * (1.0 + 10.0 * s * s);
  }
  const double wd = w(d - 1);
  const double sd = std::sin(2.0 * kPi * wd);
  sum += (wd - 1.0) * (wd - 1.0) * (1.0 + sd * sd);
  return sum;
}

double ackley(std::span<const float> x) {
  const double d = double(x.size());
  double squares = 0.0, cosines = 0.0;
  for (float v : x) {
    const double xi = v;
    squares += xi * xi;
    cosines += std::cos(2.0 * kPi * xi);
  }
  return -20.0 * std::exp(-0.2 * std::sqrt(squares / d)) - std::exp(cosines / d) + 20.0 + std::numbers::e;
}

}  // namespace

double Synthetic::value(std::span<const float> x) const {
  if (std::int64_t(x.size()) != options_.dim)
    fail("synthetic {}: x has {} elements, expected dim = {}", to_string(options_.function), x.size(), options_.dim);
  switch (options_.function) {
    case SyntheticFunction::quadratic: return quadratic(x, options_.condition);
    case SyntheticFunction::rosenbrock: return rosenbrock(x);
    case SyntheticFunction::levy: return levy(x);
    case SyntheticFunction::ackley: return ackley(x);
  }
  return 0.0;
}

double Synthetic::operator()(std::span<const float> x) {
  const double f = value(x);
  const std::int64_t call = calls_++;
  if (options_.noise == 0.0) return f;
  const RandomStream stream{.seed = options_.seed, .tensor = tensor_key("synthetic.noise"), .stream = Stream::value};
  return f + options_.noise * double(normal_at(stream, call));
}

std::vector<float> Synthetic::argmin() const {
  const bool at_one = options_.function == SyntheticFunction::rosenbrock || options_.function == SyntheticFunction::levy;
  return std::vector<float>(std::size_t(options_.dim), at_one ? 1.0f : 0.0f);
}

std::vector<float> Synthetic::x0() const {
  float start = 0.0f;
  switch (options_.function) {
    case SyntheticFunction::quadratic: start = 1.0f; break;
    case SyntheticFunction::rosenbrock: start = 0.0f; break;
    case SyntheticFunction::levy: start = 2.0f; break;
    case SyntheticFunction::ackley: start = 0.4f; break;
  }
  return std::vector<float>(std::size_t(options_.dim), start);
}

}  // namespace zo::tasks
