// Minimises a 100-dimensional ill-conditioned quadratic with zo::minimize (R-AdaZO, two-point
// estimates along Gaussian directions: the objective is only ever evaluated, never differentiated)
// and prints the run's report. Exits 0 only if the loss fell to under half its initial value.
#include <zo/optim/minimize.hpp>

#include <cstdio>
#include <span>
#include <vector>

namespace {

// f(x) = sum_i c_i (x_i - 1)^2 with curvatures c_i from 1 to 10; f(0) = 550, the minimum f(1) = 0.
double quadratic(std::span<const float> x) {
  double sum = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double c = 1.0 + 9.0 * static_cast<double>(i) / static_cast<double>(x.size() - 1);
    const double d = static_cast<double>(x[i]) - 1.0;
    sum += c * d * d;
  }
  return sum;
}

}  // namespace

int main() {
  std::vector<float> x(100, 0.0f);
  const zo::Summary summary = zo::minimize(quadratic, x,
                                           zo::MinimizeOptions{
                                               .max_steps = 2000,
                                               .seed = 1,
                                               .optimizer = {.kind = zo::OptimizerKind::r_adazo, .lr = 3e-3},
                                           });
  std::printf("%s\n", summary.report().c_str());
  if (!(summary.final_loss < 0.5 * summary.initial_loss)) {
    std::fprintf(stderr, "zo_minimize: the loss did not fall enough (%g -> %g)\n", summary.initial_loss,
                 summary.final_loss);
    return 1;
  }
  return 0;
}
