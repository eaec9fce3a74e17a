// zo attack: black-box adversarial attack on the Fashion-MNIST victim, comparing ZO optimizers at one
// query budget (docs/attack.md).
#include "command.hpp"

#include "zo/util/error.hpp"
#include "zo/tasks/attack.hpp"
#include "zo/tasks/idx.hpp"
#include "zo/tasks/victim.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Args {
  std::string victim = "models/victim/fashion_mlp.safetensors";
  std::string data{zo::tasks::kDebianFashionMnistDir};
  std::string out = "attack_out";
  std::int64_t images = 100;
  std::int64_t first = 0;
  std::vector<std::string> methods = {"zo-sgd", "zo-sign-sgd", "zo-adamm", "r-adazo", "r-adazo-bcd"};
  std::vector<double> lr_grid;
  std::string box = "tanh";
  std::string difference = "forward";
  std::uint64_t seed = 0;
  int threads = 2;
  int examples = 6;
  zo::tasks::AttackOptions options;
};

void run(Args a) {
  // One OpenBLAS thread per job: jobs run in parallel, and each forward is a small batch.
  openblas_set_num_threads(1);
  a.options.box = zo::tasks::box_method_from_string(a.box);
  a.options.estimator.difference = zo::difference_from_string(a.difference);
  a.options.validate();
  std::vector<zo::tasks::AttackMethod> methods;
  for (const auto& name : a.methods) {
    auto m = zo::tasks::attack_method_from_string(name);
    if (!m.lr && !a.lr_grid.empty()) {
      for (double lr : a.lr_grid) {
        if (!(lr > 0.0)) zo::fail("--lr-grid value {}: must be > 0", lr);
        auto g = m;
        g.lr = lr;
        methods.push_back(g);
      }
    } else {
      methods.push_back(m);
    }
  }
  if (methods.empty()) zo::fail("--optimizer: no method given");
  if (a.threads < 1) zo::fail("--threads = {}: must be >= 1", a.threads);

  const auto victim = zo::tasks::Mlp::load(a.victim);
  const auto test = zo::tasks::load_mnist_split(a.data, zo::tasks::Split::test);
  zo::tasks::check_victim_fits(victim, a.victim, test, a.data);
  const auto images = zo::tasks::select_images(victim, test, a.images, a.first);
  std::fprintf(stderr,
               "attack: %zu images (test indices %lld…%lld, all classified correctly), %zu methods, Q = %lld queries, "
               "q = %d, eps = %g, c = %g, kappa = %g, box %s, %s differences, %d threads\n",
               images.size(), (long long)images.front(), (long long)images.back(), methods.size(),
               (long long)a.options.queries, a.options.estimator.queries, a.options.estimator.eps, a.options.c,
               a.options.kappa, a.box.c_str(), a.difference.c_str(), a.threads);
  const auto start = std::chrono::steady_clock::now();
  const auto jobs = zo::tasks::run_attacks(
      victim, test, images, methods, a.options, a.seed, a.threads,
      [&](const zo::tasks::AttackJob& j, std::size_t done, std::size_t total) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr, "[%zu/%zu %.0fs] image %lld %s: %s\n", done, total, s, (long long)j.image,
                     methods[j.method].label().c_str(),
                     j.result.success ? fmt::format("fooled at query {}, best L2 {:.3f}", j.result.first_success_query,
                                                    j.result.best_l2)
                                            .c_str()
                                      : "not fooled");
      });
  const std::string table = zo::tasks::write_attack_outputs(a.out, test, jobs, methods, a.options, a.examples);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s\n(%zu images, Q = %lld; %.1f s; files in %s)\n", table.c_str(), images.size(),
              (long long)a.options.queries, s, a.out.c_str());
}

const bool registered = zo::app::register_command(
    {"attack", "Black-box adversarial attack on the Fashion-MNIST victim, comparing ZO optimizers", [](CLI::App& sub) {
       auto a = std::make_shared<Args>();
       sub.add_option("--victim", a->victim, "victim safetensors (from `zo train-victim`)")->capture_default_str();
       sub.add_option("--data", a->data, "folder with the (gzipped) IDX files; the test split is attacked")
           ->capture_default_str();
       sub.add_option("--images", a->images, "number N of correctly classified test images attacked")
           ->capture_default_str();
       sub.add_option("--first", a->first, "test index to start looking for images at")->capture_default_str();
       sub.add_option("--optimizer", a->methods,
                      "methods: <optimizer>[-bcd|-sparse][@lr], optimizer one of zo-sgd, zo-sign-sgd, zo-sgd-sign, "
                      "zo-rmsprop, zo-adamm, r-adazo")
           ->delimiter(',')
           ->capture_default_str();
       sub.add_option("--queries", a->options.queries, "query budget Q per image and method")->capture_default_str();
       sub.add_option("--out", a->out, "output folder")->capture_default_str();
       sub.add_option("--c", a->options.c, "weight c of the margin term")->capture_default_str();
       sub.add_option("--kappa", a->options.kappa, "confidence κ (margin floor −κ)")->capture_default_str();
       sub.add_option("--lr", a->options.lr, "learning rate η of methods without @lr")->capture_default_str();
       sub.add_option("--lr-grid", a->lr_grid, "run every method without @lr at each of these η")->delimiter(',');
       sub.add_option("--eps", a->options.estimator.eps, "smoothing radius ε")->capture_default_str();
       sub.add_option("--q", a->options.estimator.queries, "probe directions per step")->capture_default_str();
       sub.add_option("--difference", a->difference, "forward | central")->capture_default_str();
       sub.add_option("--box", a->box, "tanh | clip: how x stays in [0, 1]")->capture_default_str();
       sub.add_option("--patch", a->options.patch, "-bcd: block side in pixels")->capture_default_str();
       sub.add_option("--blocks-per-step", a->options.blocks_per_step, "-bcd: blocks moved per step")
           ->capture_default_str();
       sub.add_option("--keep", a->options.keep, "-sparse: kept fraction")->capture_default_str();
       sub.add_option("--beta1", a->options.beta1, "adaptive methods' β₁")->capture_default_str();
       sub.add_option("--beta2", a->options.beta2, "adaptive methods' β₂")->capture_default_str();
       sub.add_option("--seed", a->seed, "run seed (image i uses derive_seed(seed, i) for every method)")
           ->capture_default_str();
       sub.add_option("--threads", a->threads, "parallel attack jobs")->capture_default_str();
       sub.add_option("--examples", a->examples, "images shown in examples.png")->capture_default_str();
       sub.callback([a] { run(*a); });
     }});

}  // namespace
