// `zo attack`: zo::tasks::attack (include/zo/tasks/attack.hpp) with its options as flags — a
// black-box adversarial attack on the Fashion-MNIST victim, comparing ZO optimizers at one query
// budget — and its progress on stderr, the summary table on stdout (docs/attack.md).
#include "command.hpp"
#include "option_binding.hpp"

#include "zo/tasks/attack.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace zo::app {
namespace {

using tasks::AttackRunOptions;

void run(const OptionBinding<AttackRunOptions>& binding) {
  AttackRunOptions o;
  binding.apply(o);
  OptionBinding<AttackRunOptions>::usage_errors([&] { o.validate(); });

  std::chrono::steady_clock::time_point start;
  std::vector<tasks::AttackMethod> methods;
  const auto on_start = [&](std::span<const std::int64_t> images, std::span<const tasks::AttackMethod> ms) {
    methods.assign(ms.begin(), ms.end());
    std::fprintf(stderr,
                 "attack: %zu images (test indices %lld…%lld, all classified correctly), %zu methods, Q = %lld queries, "
                 "q = %d, eps = %g, c = %g, kappa = %g, box %s, %s differences, %d threads\n",
                 images.size(), (long long)images.front(), (long long)images.back(), methods.size(), (long long)o.queries,
                 o.q, o.eps, o.c, o.kappa, o.box.c_str(), o.difference.c_str(), o.threads);
    start = std::chrono::steady_clock::now();
  };
  const auto progress = [&](const tasks::AttackJob& j, std::size_t done, std::size_t total) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "[%zu/%zu %.0fs] image %lld %s: %s\n", done, total, s, (long long)j.image,
                 methods[j.method].label().c_str(),
                 j.result.success
                     ? fmt::format("fooled at query {}, best L2 {:.3f}", j.result.first_success_query, j.result.best_l2).c_str()
                     : "not fooled");
  };

  const tasks::AttackRunResult r = tasks::attack(o, progress, on_start);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n(%zu images, Q = %lld; %.1f s; files in %s)\n", r.table.c_str(), r.images.size(), (long long)o.queries,
              s, o.out.c_str());
}

void setup(CLI::App& sub) {
  auto binding = std::make_shared<OptionBinding<AttackRunOptions>>(sub, tasks::attack_option_list());
  sub.callback([binding] { run(*binding); });
}

const bool registered =
    register_command({"attack", "Black-box adversarial attack on the Fashion-MNIST victim, comparing ZO optimizers", setup});

}  // namespace
}  // namespace zo::app
