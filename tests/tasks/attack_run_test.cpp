// zo::tasks::attack, the whole `zo attack` run as a library call: a small run on Fashion-MNIST returns
// its jobs and writes its files, the same jobs as the pieces it is made of; the option list holds every
// option once with its default, and docs/attack.md lists each; validate() names the option by its flag
// name.
#include "zo/tasks/attack.hpp"

#include "zo/tasks/idx.hpp"
#include "zo/tasks/victim.hpp"
#include "zo/util/files.hpp"
#include "../test_util.hpp"

#include <cblas.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <vector>

using namespace zo::tasks;
using zo::test::expect_error;

namespace fs = std::filesystem;

namespace {

const fs::path kFashionMnist{kDebianFashionMnistDir};
const fs::path kVictim = fs::path(ZO_SOURCE_DIR) / "models/victim/fashion_mlp.safetensors";

AttackRunOptions small_run(const fs::path& out) {
  AttackRunOptions o;
  o.victim = kVictim.string();
  o.data = kFashionMnist.string();
  o.out = out.string();
  o.images = 2;
  o.first = 3;
  o.queries = 56;  // 5 steps of q + 1 = 11 images, one left for the final point
  o.methods = {"zo-sgd", "r-adazo-bcd@0.05"};
  o.lr_grid = {0.01, 0.02};
  o.threads = 2;
  o.examples = 1;
  o.seed = 4;
  return o;
}

}  // namespace

TEST(AttackRun, SmallRunReturnsItsJobsAndWritesItsFiles) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionMnist;
  const fs::path dir = zo::test::fresh_dir("zo_attack_run_");
  const AttackRunOptions o = small_run(dir / "out");

  int starts = 0;
  std::vector<std::size_t> done;
  const int blas_threads = openblas_get_num_threads();
  const AttackRunResult r = attack(
      o,
      [&](const AttackJob& j, std::size_t d, std::size_t total) {
        EXPECT_EQ(starts, 1) << "on_start comes before every job";
        EXPECT_EQ(total, 6u);
        EXPECT_LT(j.method, 3u);
        done.push_back(d);
      },
      [&](std::span<const std::int64_t> images, std::span<const AttackMethod> methods) {
        ++starts;
        EXPECT_EQ(images.size(), 2u);
        EXPECT_EQ(methods.size(), 3u);
      });
  EXPECT_EQ(openblas_get_num_threads(), blas_threads) << "the caller's OpenBLAS thread count comes back";
  EXPECT_EQ(starts, 1);
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done, (std::vector<std::size_t>{1, 2, 3, 4, 5, 6}));

  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_GE(r.images[0], 3);
  EXPECT_LT(r.images[0], r.images[1]);
  ASSERT_EQ(r.methods.size(), 3u);  // zo-sgd over the grid, r-adazo-bcd at its own η
  EXPECT_EQ(r.methods[0].label(), "zo-sgd@0.01");
  EXPECT_EQ(r.methods[1].label(), "zo-sgd@0.02");
  EXPECT_EQ(r.methods[2].label(), "r-adazo-bcd@0.05");
  ASSERT_EQ(r.jobs.size(), 6u);
  for (const AttackJob& j : r.jobs) {
    EXPECT_EQ(j.result.queries_used, 56) << "image " << j.image << " method " << j.method;
    EXPECT_EQ(j.result.steps, 5);
    EXPECT_EQ(j.result.curve.size(), 5u);
    EXPECT_EQ(j.result.adversarial.size(), 784u);
  }
  ASSERT_EQ(r.summaries.size(), 3u);
  for (std::size_t m = 0; m < 3; ++m) {
    EXPECT_EQ(r.summaries[m].method, r.methods[m].label());
    EXPECT_EQ(r.summaries[m].images, 2);
  }
  EXPECT_NE(r.table.find("| zo-sgd@0.02 |"), std::string::npos) << r.table;
  EXPECT_NE(r.table.find("| r-adazo-bcd@0.05 |"), std::string::npos) << r.table;

  std::set<std::string> names;
  for (const fs::path& f : r.files) {
    EXPECT_TRUE(fs::exists(f)) << f;
    EXPECT_EQ(f.parent_path(), dir / "out") << f;
    names.insert(f.filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{"results.csv", "curves.csv", "curves.png", "success.png", "examples.png",
                                          "summary.md"}));
  EXPECT_EQ(zo::read_file(dir / "out/summary.md", "summary"), r.table);

  // The same jobs as the pieces run by hand, with OpenBLAS at one thread as the call holds it (the
  // victim's sgemm sums in another order with more threads).
  openblas_set_num_threads(1);
  const Mlp victim = Mlp::load(o.victim);
  const ImageDataset test = load_mnist_split(o.data, Split::test);
  const auto images = select_images(victim, test, o.images, o.first);
  EXPECT_EQ(images, r.images);
  const auto jobs = run_attacks(victim, test, images, r.methods, o.attack_options(), o.seed, 1);
  openblas_set_num_threads(blas_threads);
  ASSERT_EQ(jobs.size(), r.jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ(jobs[i].image, r.jobs[i].image);
    EXPECT_EQ(jobs[i].method, r.jobs[i].method);
    EXPECT_EQ(jobs[i].result.curve, r.jobs[i].result.curve) << "job " << i;
    EXPECT_EQ(jobs[i].result.final_loss, r.jobs[i].result.final_loss) << "job " << i;
    EXPECT_EQ(jobs[i].result.adversarial, r.jobs[i].result.adversarial) << "job " << i;
  }
  fs::remove_all(dir);
}

TEST(AttackRun, NoExamplesMeansNoExamplesPicture) {
  if (!fs::exists(kFashionMnist / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST not installed in " << kFashionMnist;
  const fs::path dir = zo::test::fresh_dir("zo_attack_run_");
  AttackRunOptions o = small_run(dir / "out");
  o.images = 1;
  o.lr_grid = {};
  o.methods = {"zo-adamm"};
  o.examples = 0;
  const AttackRunResult r = attack(o);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.methods[0].label(), "zo-adamm");
  EXPECT_FALSE(r.methods[0].lr.has_value()) << "a method without @η and no grid runs at lr";
  EXPECT_FALSE(fs::exists(dir / "out/examples.png"));
  EXPECT_EQ(r.files.size(), 5u);
  for (const fs::path& f : r.files) EXPECT_TRUE(fs::exists(f)) << f;
  fs::remove_all(dir);
}

TEST(AttackRun, BadOptionsFailBeforeAnythingIsLoaded) {
  AttackRunOptions o;
  o.victim = "/nonexistent/victim.safetensors";
  o.queries = 0;
  expect_error([&] { attack(o); }, {"option 'queries' = 0"});
  o = {};
  o.victim = "/nonexistent/victim.safetensors";
  expect_error([&] { attack(o); }, {"/nonexistent/victim.safetensors"});
}

TEST(AttackRunOptions, ListHoldsEveryFlagOnceAndRoundTripsEveryDefault) {
  const auto& list = attack_option_list();
  std::vector<std::string> names;
  for (const auto& spec : list.specs()) names.push_back(spec.name);
  EXPECT_EQ(names, (std::vector<std::string>{"victim", "data", "images", "first", "optimizer", "queries", "out", "c",
                                             "kappa", "lr", "lr-grid", "eps", "q", "difference", "box", "patch",
                                             "blocks-per-step", "keep", "beta1", "beta2", "seed", "threads",
                                             "examples"}));

  const AttackRunOptions defaults;
  // Each default's text sets the same value back (lists with no default have no text).
  for (const auto& spec : list.specs()) {
    SCOPED_TRACE(spec.name);
    const std::string text = spec.get(defaults);
    if (text.empty()) {
      EXPECT_TRUE(spec.list) << "only an empty list has no default text";
      continue;
    }
    AttackRunOptions o;
    o.victim = o.data = o.out = o.box = o.difference = "x";
    o.methods = {"x"};
    o.images = o.first = o.queries = -7;
    o.c = o.kappa = o.lr = o.eps = o.keep = o.beta1 = o.beta2 = -7.0;
    o.q = o.patch = o.blocks_per_step = o.threads = o.examples = -7;
    o.seed = 77;
    spec.set(o, text);
    EXPECT_EQ(spec.get(o), text);
  }
  AttackRunOptions o;
  for (const auto& spec : list.specs())
    if (!spec.get(defaults).empty()) spec.set(o, spec.get(defaults));
  EXPECT_EQ(o.methods, defaults.methods);
  EXPECT_EQ(o.eps, defaults.eps);
  EXPECT_EQ(o.beta2, defaults.beta2);
  EXPECT_EQ(o.lr, defaults.lr);
  EXPECT_EQ(o.keep, defaults.keep);

  // Every option reaches its own field: set one to another value, and only its text changes.
  const std::vector<std::pair<std::string, std::string>> other = {
      {"victim", "v.safetensors"}, {"data", "d"}, {"images", "3"}, {"first", "5"}, {"optimizer", "zo-sgd,r-adazo@0.1"},
      {"queries", "77"}, {"out", "o"}, {"c", "2.5"}, {"kappa", "0.25"}, {"lr", "0.03"}, {"lr-grid", "0.1,0.2"},
      {"eps", "0.001"}, {"q", "3"}, {"difference", "central"}, {"box", "clip"}, {"patch", "4"},
      {"blocks-per-step", "2"}, {"keep", "0.5"}, {"beta1", "0.5"}, {"beta2", "0.9"}, {"seed", "9"}, {"threads", "1"},
      {"examples", "0"}};
  ASSERT_EQ(other.size(), list.specs().size());
  for (const auto& [name, text] : other) {
    SCOPED_TRACE(name);
    const auto* spec = list.find(name);
    ASSERT_NE(spec, nullptr);
    AttackRunOptions changed;
    spec->set(changed, text);
    EXPECT_EQ(spec->get(changed), text);
    for (const auto& s : list.specs()) {
      if (s.name == name) continue;
      EXPECT_EQ(s.get(changed), s.get(defaults)) << s.name;
    }
    EXPECT_NO_THROW(changed.validate());
  }
}

TEST(AttackRunOptions, DefaultsAreTheAttacksOwn) {
  const AttackRunOptions o;
  EXPECT_EQ(o.victim, "models/victim/fashion_mlp.safetensors");
  EXPECT_EQ(o.data, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(o.out, "attack_out");
  EXPECT_EQ(o.images, 100);
  EXPECT_EQ(o.first, 0);
  EXPECT_EQ(o.methods, (std::vector<std::string>{"zo-sgd", "zo-sign-sgd", "zo-adamm", "r-adazo", "r-adazo-bcd"}));
  EXPECT_TRUE(o.lr_grid.empty());
  EXPECT_EQ(o.box, "tanh");
  EXPECT_EQ(o.difference, "forward");
  EXPECT_EQ(o.seed, 0u);
  EXPECT_EQ(o.threads, 2);
  EXPECT_EQ(o.examples, 6);
  const AttackOptions a = o.attack_options();
  const AttackOptions d;
  EXPECT_EQ(a.queries, 5000);
  EXPECT_EQ(a.queries, d.queries);
  EXPECT_EQ(a.c, d.c);
  EXPECT_EQ(a.kappa, d.kappa);
  EXPECT_EQ(a.lr, d.lr);
  EXPECT_EQ(a.estimator.eps, d.estimator.eps);
  EXPECT_EQ(a.estimator.queries, d.estimator.queries);
  EXPECT_EQ(a.estimator.difference, d.estimator.difference);
  EXPECT_EQ(a.box, d.box);
  EXPECT_EQ(a.patch, d.patch);
  EXPECT_EQ(a.blocks_per_step, d.blocks_per_step);
  EXPECT_EQ(a.keep, d.keep);
  EXPECT_EQ(a.beta1, d.beta1);
  EXPECT_EQ(a.beta2, d.beta2);
  const auto methods = o.attack_methods();
  ASSERT_EQ(methods.size(), 5u);
  EXPECT_EQ(methods[4].structure, Structure::bcd);
}

TEST(AttackRunOptions, LrGridExpandsMethodsWithoutTheirOwnRate) {
  AttackRunOptions o;
  o.methods = {"zo-sgd", "r-adazo@0.5", "zo-adamm-sparse"};
  o.lr_grid = {0.1, 0.2};
  std::vector<std::string> labels;
  for (const auto& m : o.attack_methods()) labels.push_back(m.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"zo-sgd@0.1", "zo-sgd@0.2", "r-adazo@0.5", "zo-adamm-sparse@0.1",
                                              "zo-adamm-sparse@0.2"}));
}

TEST(AttackRunOptions, ValidateNamesTheOption) {
  const auto bad = [](const std::function<void(AttackRunOptions&)>& change, const std::vector<std::string>& parts) {
    AttackRunOptions o;
    change(o);
    expect_error([&] { o.validate(); }, parts);
    expect_error([&] { (void)o.attack_options(); }, parts);
  };
  bad([](auto& o) { o.queries = 0; }, {"option 'queries' = 0", ">= 1"});
  bad([](auto& o) { o.q = 0; }, {"option 'q' = 0", ">= 1"});
  bad([](auto& o) { o.images = 0; }, {"option 'images' = 0", ">= 1"});
  bad([](auto& o) { o.first = -1; }, {"option 'first' = -1"});
  bad([](auto& o) { o.methods = {"zo-sgd", "adam"}; }, {"option 'optimizer' = 'adam'", "r-adazo"});
  bad([](auto& o) { o.methods = {}; }, {"option 'optimizer'", "no method"});
  bad([](auto& o) { o.methods = {"r-adazo@-1"}; }, {"option 'optimizer' = 'r-adazo@-1'", "positive"});
  bad([](auto& o) { o.lr_grid = {0.1, 0.0}; }, {"option 'lr-grid' = 0.1,0", "> 0"});
  bad([](auto& o) { o.c = 0; }, {"option 'c' = 0"});
  bad([](auto& o) { o.kappa = -1; }, {"option 'kappa' = -1"});
  bad([](auto& o) { o.lr = 0; }, {"option 'lr' = 0"});
  bad([](auto& o) { o.eps = 0; }, {"option 'eps' = 0"});
  bad([](auto& o) { o.eps = 1e-50; }, {"option 'eps' = 1e-50", "float32"});
  bad([](auto& o) { o.difference = "sideways"; }, {"option 'difference' = 'sideways'", "central"});
  bad([](auto& o) { o.box = "sphere"; }, {"option 'box' = 'sphere'", "tanh"});
  bad([](auto& o) { o.patch = 0; }, {"option 'patch' = 0"});
  bad([](auto& o) { o.blocks_per_step = 0; }, {"option 'blocks-per-step' = 0"});
  bad([](auto& o) { o.keep = 1.5; }, {"option 'keep' = 1.5", "(0, 1]"});
  bad([](auto& o) { o.beta1 = 1.0; }, {"option 'beta1' = 1", "[0, 1)"});
  bad([](auto& o) { o.beta2 = -0.1; }, {"option 'beta2' = -0.1"});
  bad([](auto& o) { o.threads = 0; }, {"option 'threads' = 0"});
  bad([](auto& o) { o.examples = -1; }, {"option 'examples' = -1"});
  bad([](auto& o) { o.victim.clear(); }, {"option 'victim'", "required"});
  bad([](auto& o) { o.data.clear(); }, {"option 'data'", "required"});
  bad([](auto& o) { o.out.clear(); }, {"option 'out'", "required"});
  // Text that does not parse names the option too.
  AttackRunOptions o;
  expect_error([&] { attack_option_list().find("queries")->set(o, "many"); }, {"option 'queries' = 'many'"});
  expect_error([&] { attack_option_list().find("lr-grid")->set(o, "0.1,,0.2"); }, {"option 'lr-grid'", "empty item"});
  EXPECT_NO_THROW(AttackRunOptions{}.validate());
}

TEST(AttackRunOptions, DocsListEveryOption) {
  const std::string doc = zo::read_file(fs::path(ZO_SOURCE_DIR) / "docs/attack.md", "docs");
  for (const auto& spec : attack_option_list().specs())
    EXPECT_NE(doc.find("`--" + spec.name), std::string::npos) << "docs/attack.md lacks --" << spec.name;
}
