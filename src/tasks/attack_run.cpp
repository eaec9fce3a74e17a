// zo::tasks::attack: a whole `zo attack` run — victim, data, image selection, the parallel jobs, the
// files — behind one options struct (attack.hpp).
#include "zo/tasks/attack.hpp"

#include "zo/tasks/idx.hpp"
#include "zo/tasks/victim.hpp"
#include "zo/util/error.hpp"

#include <cblas.h>

#include <cmath>
#include <string_view>

namespace zo::tasks {

const OptionList<AttackRunOptions>& attack_option_list() {
  static const OptionList<AttackRunOptions> list = [] {
    using O = AttackRunOptions;
    OptionList<O> l;
    l.add("victim", &O::victim, "victim safetensors (from `zo train-victim`)")
        .add("data", &O::data, "folder with the (gzipped) IDX files; the test split is attacked")
        .add("images", &O::images, "number N of correctly classified test images attacked")
        .add("first", &O::first, "test index to start looking for images at")
        .add("optimizer", &O::methods,
             "methods: <optimizer>[-bcd|-sparse][@lr], optimizer one of zo-sgd, zo-sign-sgd, zo-sgd-sign, "
             "zo-rmsprop, zo-adamm, r-adazo")
        .add("queries", &O::queries, "query budget Q per image and method")
        .add("out", &O::out, "output folder")
        .add("c", &O::c, "weight c of the margin term")
        .add("kappa", &O::kappa, "confidence κ (margin floor −κ)")
        .add("lr", &O::lr, "learning rate η of methods without @lr")
        .add("lr-grid", &O::lr_grid, "run every method without @lr at each of these η")
        .add("eps", &O::eps, "smoothing radius ε")
        .add("q", &O::q, "probe directions per step")
        .add("difference", &O::difference, "forward | central")
        .add("box", &O::box, "tanh | clip: how x stays in [0, 1]")
        .add("patch", &O::patch, "-bcd: block side in pixels")
        .add("blocks-per-step", &O::blocks_per_step, "-bcd: blocks moved per step")
        .add("keep", &O::keep, "-sparse: kept fraction")
        .add("beta1", &O::beta1, "adaptive methods' β₁")
        .add("beta2", &O::beta2, "adaptive methods' β₂")
        .add("seed", &O::seed, "run seed (image i uses derive_seed(seed, i) for every method)")
        .add("threads", &O::threads, "parallel attack jobs")
        .add("examples", &O::examples, "images shown in examples.png");
    return l;
  }();
  return list;
}

namespace {

// OpenBLAS at `n` threads for a scope; the caller's count comes back after.
class BlasThreads {
 public:
  explicit BlasThreads(int n) : previous_(openblas_get_num_threads()) { openblas_set_num_threads(n); }
  ~BlasThreads() { openblas_set_num_threads(previous_); }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace

void AttackRunOptions::validate() const {
  if (victim.empty()) fail("option 'victim': required (a safetensors file from zo train-victim)");
  if (data.empty()) fail("option 'data': required (a folder with the IDX files)");
  if (out.empty()) fail("option 'out': required (the output folder)");
  require_option(images >= 1, "images", images, "must be >= 1");
  require_option(first >= 0, "first", first, "must be >= 0");
  if (methods.empty()) fail("option 'optimizer': no method given");
  for (const std::string& m : methods) require_choice("optimizer", m, attack_method_from_string);
  for (double v : lr_grid)
    if (!finite_positive(v))
      fail("option 'lr-grid' = {}: every η must be finite and > 0 ({} is not)",
           option_text::format(lr_grid), v);
  require_option(queries >= 1, "queries", queries, "the budget Q must be >= 1");
  require_option(finite_positive(c), "c", c, "must be finite and > 0");
  require_option(std::isfinite(kappa) && kappa >= 0.0, "kappa", kappa, "must be finite and >= 0");
  require_option(finite_positive(lr), "lr", lr, "must be finite and > 0");
  require_option(finite_positive(eps), "eps", eps, "must be finite and > 0");
  require_option(float(eps) != 0.0f, "eps", eps, "underflows float32 (must be >= 1e-38)");
  require_option(q >= 1, "q", q, "must be >= 1");
  require_choice("difference", difference, difference_from_string);
  require_choice("box", box, box_method_from_string);
  require_option(patch >= 1, "patch", patch, "must be >= 1");
  require_option(blocks_per_step >= 1, "blocks-per-step", blocks_per_step, "must be >= 1");
  require_option(keep > 0.0 && keep <= 1.0, "keep", keep, "must be in (0, 1]");
  require_option(in_unit_interval(beta1), "beta1", beta1, "must be in [0, 1)");
  require_option(in_unit_interval(beta2), "beta2", beta2, "must be in [0, 1)");
  require_option(threads >= 1, "threads", threads, "must be >= 1");
  require_option(examples >= 0, "examples", examples, "must be >= 0 (0 = no examples.png)");
}

AttackOptions AttackRunOptions::attack_options() const {
  validate();
  AttackOptions o;
  o.c = c;
  o.kappa = kappa;
  o.queries = queries;
  o.box = box_method_from_string(box);
  o.estimator.eps = eps;
  o.estimator.queries = q;
  o.estimator.difference = difference_from_string(difference);
  o.lr = lr;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.patch = patch;
  o.blocks_per_step = blocks_per_step;
  o.keep = keep;
  o.validate();
  return o;
}

std::vector<AttackMethod> AttackRunOptions::attack_methods() const {
  validate();
  std::vector<AttackMethod> out;
  for (const std::string& name : methods) {
    const AttackMethod m = attack_method_from_string(name);
    if (m.lr || lr_grid.empty()) {
      out.push_back(m);
      continue;
    }
    for (double v : lr_grid) {
      AttackMethod g = m;
      g.lr = v;
      out.push_back(g);
    }
  }
  return out;
}

AttackRunResult attack(const AttackRunOptions& options, const AttackProgress& progress, const AttackStart& on_start) {
  const AttackOptions attack_opts = options.attack_options();
  AttackRunResult result;
  result.methods = options.attack_methods();

  // One OpenBLAS thread per job: jobs run in parallel, and each forward is a small batch.
  const BlasThreads one_blas_thread(1);
  const Mlp victim = Mlp::load(options.victim);
  const ImageDataset test = load_mnist_split(options.data, Split::test);
  check_victim_fits(victim, options.victim, test, options.data);
  result.images = select_images(victim, test, options.images, options.first);
  if (on_start) on_start(result.images, result.methods);

  result.jobs = run_attacks(victim, test, result.images, result.methods, attack_opts, options.seed, options.threads, progress);
  const std::filesystem::path out = options.out;
  result.table = write_attack_outputs(out, test, result.jobs, result.methods, attack_opts, options.examples);
  result.summaries = summarize(result.jobs, result.methods);
  result.files = {out / "results.csv", out / "curves.csv", out / "curves.png", out / "success.png"};
  if (options.examples > 0 && !result.jobs.empty()) result.files.push_back(out / "examples.png");
  result.files.push_back(out / "summary.md");
  return result;
}

}  // namespace zo::tasks
