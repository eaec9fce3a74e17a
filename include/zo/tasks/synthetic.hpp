// Synthetic objectives with known minima: R-AdaZO's set (docs/methods.md §4).
//   quadratic   f(x) = ½ Σ c_i x_i², c_i log-spaced from 1 to `condition`; min 0 at 0
//   rosenbrock  f(x) = Σ_{i<d−1} 100 (x_{i+1} − x_i²)² + (1 − x_i)²;            min 0 at 1
//   levy        the Levy function, w_i = 1 + (x_i − 1)/4;                         min 0 at 1
//   ackley      −20 exp(−0.2 √(Σx²/d)) − exp(Σ cos(2πx_i)/d) + 20 + e;           min 0 at 0
// Values are computed in double. With noise σ > 0, each call adds N(0, σ²) drawn from (seed, call
// count), so a run is reproducible; value() is always noiseless.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace zo::tasks {

enum class SyntheticFunction { quadratic, rosenbrock, levy, ackley };
std::string_view to_string(SyntheticFunction);
SyntheticFunction synthetic_function_from_string(std::string_view);  // throws zo::Error listing names

struct SyntheticOptions {
  SyntheticFunction function = SyntheticFunction::quadratic;
  std::int64_t dim = 10000;  // d >= 1 (rosenbrock: >= 2)
  double condition = 1e3;    // quadratic: largest / smallest curvature, >= 1
  double noise = 0.0;        // σ of additive Gaussian noise per evaluation, >= 0
  std::uint64_t seed = 0;    // noise stream
  void validate() const;
};

class Synthetic {
 public:
  explicit Synthetic(SyntheticOptions options);  // validates
  const SyntheticOptions& options() const { return options_; }

  double operator()(std::span<const float> x);   // value + noise; counts calls; throws on a wrong size
  double value(std::span<const float> x) const;  // noiseless
  double minimum() const { return 0.0; }
  std::vector<float> argmin() const;
  std::vector<float> x0() const;                 // the documented standard start point
  std::int64_t calls() const { return calls_; }

 private:
  SyntheticOptions options_;
  std::int64_t calls_ = 0;
};

}  // namespace zo::tasks
