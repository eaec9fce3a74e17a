// Black-box adversarial attack on an image classifier (docs/methods.md §6; the setting of ZO-AdaMM, Chen et
// al. 2019, and R-AdaZO, Shu et al. 2025). The victim is queried for its scores (log-probabilities)
// only; every image it scores is one query.
//
// For an image x₀ (pixels in [0, 1]) of class t, minimise over w
//     L(w) = c · max(log p_t(x) − max_{j≠t} log p_j(x), −κ) + ‖x − x₀‖²
// with x = x(w) kept in [0, 1] by one of:
//   tanh (default)  x = (tanh(w) + 1) / 2, w₀ = atanh((2x₀ − 1)(1 − 10⁻⁶))   (Carlini & Wagner's change of
//                   variables: every w is a valid image, nothing is projected)
//   clip            x = clip(x₀ + w, 0, 1), w₀ = 0   (w is δ; the box is enforced when x is formed)
// δ = x − x₀. The attack succeeds when the victim's argmax at the current x (the point the optimizer
// holds, evaluated as row 0 of every step's batch) is not t.
//
// Each step: the Estimator's draws for (run seed, step), the q (forward) or 2q (central) perturbed
// points plus the current one evaluated as ONE batch through the victim (batched_estimate.hpp), then
// Optimizer::step. The run stops when the next step would exceed the budget Q; one query left over
// evaluates the final point.
//
// Methods: any optimizer name (optimizer.hpp) over dense Gaussian directions, plus two structured forms:
//   <optimizer>-bcd     block-coordinate: the image is cut into patch×patch squares (7×7 on 28×28:
//                       a 4×4 grid, 16 blocks of 49 pixels); each step moves blocks_per_step of them,
//                       in a fresh random permutation per epoch (direction.hpp BlockOrder::permutation);
//                       optimizer state is kept per pixel for all blocks.
//   <optimizer>-sparse  sparse directions: each pixel kept with probability keep, scaled 1/√keep.
// A method may carry its own learning rate: "r-adazo@0.005".
#pragma once

#include "zo/core/direction.hpp"
#include "zo/optim/estimator.hpp"
#include "zo/optim/optimizer.hpp"
#include "zo/tasks/idx.hpp"
#include "zo/tasks/victim.hpp"
#include "zo/util/option_list.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zo::tasks {

enum class BoxMethod { tanh, clip };
std::string_view to_string(BoxMethod);             // "tanh", "clip"
BoxMethod box_method_from_string(std::string_view);  // throws zo::Error listing the valid names

enum class Structure { dense, bcd, sparse };
std::string_view to_string(Structure);  // "dense", "bcd", "sparse"

struct AttackMethod {
  std::string name;                    // as given, e.g. "r-adazo-bcd@0.01"
  OptimizerKind optimizer = OptimizerKind::zo_sgd;
  Structure structure = Structure::dense;
  std::optional<double> lr;            // from "@η"; else AttackOptions::lr
  std::string label() const;           // name without "@η", plus "@η" when lr is set: "r-adazo@0.01"
};

// Parses "<optimizer>[-bcd|-sparse][@lr]". Throws zo::Error naming the value and listing the valid names.
AttackMethod attack_method_from_string(std::string_view name);

struct AttackOptions {
  double c = 1.0;                      // weight of the margin term, > 0
  double kappa = 0.0;                  // confidence κ >= 0: the margin term is floored at −κ
  std::int64_t queries = 5000;         // budget Q per image and method, >= 1
  BoxMethod box = BoxMethod::tanh;
  EstimatorOptions estimator{.eps = 0.005, .queries = 10, .difference = Difference::forward};  // ε, q, difference
  double lr = 0.01;                    // η for methods without "@η", > 0
  double beta1 = 0.9;                  // adaptive methods' β₁
  double beta2 = 0.99;                 // adaptive methods' β₂ (R-AdaZO's README example)
  int patch = 7;                       // -bcd: block side in pixels; must divide the image's rows and cols
  int blocks_per_step = 1;             // -bcd: blocks moved per step
  double keep = 0.1;                   // -sparse: kept fraction p
  void validate() const;               // throws zo::Error naming the field, value and rule
};

// The victim as the attack sees it: log-probabilities (rows × classes) for a batch of images
// (rows × pixels, values in [0, 1]).
using ScoreFn = std::function<void(std::span<const float> images, std::int64_t rows, std::span<float> log_probs)>;

// A ScoreFn over an Mlp's forward pass followed by log-softmax; `victim` must outlive it.
ScoreFn mlp_scores(const Mlp& victim);

struct AttackResult {
  int label = 0;                       // t
  bool success = false;
  std::int64_t first_success_query = -1;  // query index (1-based) of the first evaluation of a misclassified current x; −1 if none
  std::int64_t first_success_step = -1;   // optimizer steps taken before that evaluation
  double l2_at_first_success = 0.0;    // ‖δ‖₂ then
  double best_l2 = 0.0;                // smallest ‖δ‖₂ over misclassified current points (0 when none)
  double final_l2 = 0.0;               // ‖δ‖₂ of the last point
  double final_loss = 0.0;             // L at the last point evaluated
  int final_label = 0;                 // the victim's argmax there
  std::vector<float> adversarial;      // the best successful x, else the last point (pixels)
  int adversarial_label = 0;           // the victim's argmax at `adversarial`
  std::int64_t queries_used = 0;
  std::int64_t steps = 0;
  std::vector<double> curve;           // L at the current point, once per step (before its update)
};

// Attacks one image. `run_seed` seeds every direction (use the same one across methods for common random
// numbers). `pixels_rows`/`cols` give the image shape (for -bcd patches).
AttackResult attack_image(const ScoreFn& victim, std::span<const float> x0, int label, std::int64_t rows,
                          std::int64_t cols, int classes, const AttackMethod& method, const AttackOptions& options,
                          std::uint64_t run_seed);

// The objective's value at one image given its log-probabilities.
double attack_loss(std::span<const float> log_probs, int label, double c, double kappa, double distortion_sq);

// Indices of the first `count` images of `data`, starting at `first`, that `victim` classifies correctly
// (attacking an already misclassified image proves nothing). Throws zo::Error when count < 1, count or
// first exceed the data set, or too few correctly classified images remain.
std::vector<std::int64_t> select_images(const Mlp& victim, const ImageDataset& data, std::int64_t count,
                                        std::int64_t first = 0);

// Checks that the victim fits the data: inputs = rows × cols, classes >= the data's largest label + 1.
// Errors name both.
void check_victim_fits(const Mlp& victim, const std::string& victim_name, const ImageDataset& data,
                       const std::string& data_name);

// A whole comparison: every image × every method, run in parallel over `threads` (each job sequential,
// results independent of the thread count). run_seed of image i = derive_seed(seed, i).
struct AttackJob {
  std::int64_t image = 0;   // index in the data set
  std::size_t method = 0;   // index in methods
  AttackResult result;
};
std::vector<AttackJob> run_attacks(const Mlp& victim, const ImageDataset& data, std::span<const std::int64_t> images,
                                   std::span<const AttackMethod> methods, const AttackOptions& options,
                                   std::uint64_t seed, int threads,
                                   const std::function<void(const AttackJob&, std::size_t done, std::size_t total)>&
                                       progress = {});

// Per-method summary over the images.
struct MethodSummary {
  std::string method;
  std::int64_t images = 0;
  std::int64_t successes = 0;
  double success_rate = 0.0;
  double mean_first_success_query = 0.0;  // over successes (NaN when none)
  double median_first_success_query = 0.0;
  double mean_l2_at_first_success = 0.0;
  double mean_best_l2 = 0.0;              // over successes
  double mean_final_loss = 0.0;
};
std::vector<MethodSummary> summarize(std::span<const AttackJob> jobs, std::span<const AttackMethod> methods);

// Writes DIR/results.csv, DIR/curves.csv (method, query, mean loss, success rate so far), DIR/curves.png,
// DIR/success.png and DIR/examples.png (original / adversarial / amplified perturbation, with the victim's
// labels, for the first `examples` images). Creates DIR. Returns the summary table as text.
std::string write_attack_outputs(const std::filesystem::path& dir, const ImageDataset& data,
                                 std::span<const AttackJob> jobs, std::span<const AttackMethod> methods,
                                 const AttackOptions& options, int examples);

// One whole `zo attack` run as a library call: load the victim and the test split, pick the first
// `images` correctly classified test images from `first` on, attack each with every method, write the
// files. Every option below is also a flag of `zo attack`, by the same name with dashes
// (attack_option_list(): methods is --optimizer, lr_grid is --lr-grid, q is --q); validate() names
// the option at fault that way: "option 'queries' = 0: must be >= 1".
//
//   zo::tasks::AttackRunOptions o;
//   o.images = 10; o.queries = 1000; o.methods = {"zo-adamm", "r-adazo"}; o.out = "runs/attack";
//   const zo::tasks::AttackRunResult r = zo::tasks::attack(o);   // r.jobs, r.summaries, r.table, r.files
struct AttackRunOptions {
  // Victim, data, output
  std::string victim = "models/victim/fashion_mlp.safetensors";  // safetensors from `zo train-victim`
  std::string data{kDebianFashionMnistDir};  // folder with the (gzipped) IDX files; the test split is attacked
  std::string out = "attack_out";            // output folder
  std::int64_t images = 100;                 // N correctly classified test images attacked, >= 1
  std::int64_t first = 0;                    // test index to start looking for them at
  // Methods: <optimizer>[-bcd|-sparse][@η] (attack_method_from_string)
  std::vector<std::string> methods = {"zo-sgd", "zo-sign-sgd", "zo-adamm", "r-adazo", "r-adazo-bcd"};  // --optimizer
  std::vector<double> lr_grid{};             // every method without @η at each of these η ({} = at lr only)
  // The attack (AttackOptions; the defaults are its own)
  std::int64_t queries = AttackOptions{}.queries;  // budget Q per image and method
  double c = AttackOptions{}.c;
  double kappa = AttackOptions{}.kappa;
  double lr = AttackOptions{}.lr;            // η of methods without @η
  double eps = AttackOptions{}.estimator.eps;
  int q = AttackOptions{}.estimator.queries;  // probe directions per step
  std::string difference{to_string(AttackOptions{}.estimator.difference)};  // forward, central
  std::string box{to_string(AttackOptions{}.box)};                        // tanh, clip
  int patch = AttackOptions{}.patch;
  int blocks_per_step = AttackOptions{}.blocks_per_step;
  double keep = AttackOptions{}.keep;
  double beta1 = AttackOptions{}.beta1;
  double beta2 = AttackOptions{}.beta2;
  // Run
  std::uint64_t seed = 0;                    // image i uses run seed derive_seed(seed, i) for every method
  int threads = 2;                           // parallel jobs (image × method); results do not depend on it
  int examples = 6;                          // images shown in examples.png (0 = no examples.png)

  // Throws zo::Error naming the option by its flag name ('queries', 'optimizer', 'lr-grid', …), its
  // value and the rule.
  void validate() const;
  // The AttackOptions these imply (validates first).
  AttackOptions attack_options() const;
  // The methods as run: each of `methods` in order, one without @η expanded over lr_grid when it is
  // given (validates first). AttackJob::method indexes this list.
  std::vector<AttackMethod> attack_methods() const;
};

// Every option of AttackRunOptions with its name and help text: the `zo attack` flags.
const OptionList<AttackRunOptions>& attack_option_list();

struct AttackRunResult {
  std::vector<std::int64_t> images{};        // test indices attacked
  std::vector<AttackMethod> methods{};       // attack_methods()
  std::vector<AttackJob> jobs{};             // image by image, methods in order within an image
  std::vector<MethodSummary> summaries{};    // summarize(jobs, methods)
  std::string table{};                       // the summary table (markdown; also summary.md)
  std::vector<std::filesystem::path> files{};  // written under options.out
};

// Called once the images are chosen, before any job runs.
using AttackStart = std::function<void(std::span<const std::int64_t> images, std::span<const AttackMethod> methods)>;
// Called as each job finishes, from the worker threads one at a time.
using AttackProgress = std::function<void(const AttackJob&, std::size_t done, std::size_t total)>;

// Validates, loads the victim and the test split of `data`, selects the images, runs every image ×
// method over `threads` jobs (OpenBLAS held at one thread for the call: each job's forward passes are
// small batches), and writes results.csv, curves.csv, curves.png, success.png, examples.png and
// summary.md under `out` (write_attack_outputs). Throws zo::Error on bad options or input.
AttackRunResult attack(const AttackRunOptions& options, const AttackProgress& progress = {},
                       const AttackStart& on_start = {});

}  // namespace zo::tasks
