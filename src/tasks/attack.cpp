#include "zo/tasks/attack.hpp"

#include "zo/util/error.hpp"
#include "zo/core/random.hpp"
#include "zo/tasks/batched_estimate.hpp"
#include "zo/optim/step_driver.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>

#include <omp.h>

namespace zo::tasks {

std::string_view to_string(BoxMethod b) { return b == BoxMethod::tanh ? "tanh" : "clip"; }

BoxMethod box_method_from_string(std::string_view name) {
  if (name == "tanh") return BoxMethod::tanh;
  if (name == "clip") return BoxMethod::clip;
  fail("box method '{}': unknown; valid names are tanh, clip", name);
}

std::string_view to_string(Structure s) {
  switch (s) {
    case Structure::dense: return "dense";
    case Structure::bcd: return "bcd";
    case Structure::sparse: return "sparse";
  }
  return "unknown";
}

std::string AttackMethod::label() const {
  const auto at = name.find('@');
  std::string base = at == std::string::npos ? name : name.substr(0, at);
  if (lr) base += fmt::format("@{}", *lr);
  return base;
}

AttackMethod attack_method_from_string(std::string_view name) {
  AttackMethod m;
  m.name = std::string(name);
  std::string_view base = name;
  if (const auto at = name.find('@'); at != std::string_view::npos) {
    base = name.substr(0, at);
    const std::string_view num = name.substr(at + 1);
    double v = 0.0;
    const auto r = std::from_chars(num.data(), num.data() + num.size(), v);
    if (num.empty() || r.ec != std::errc() || r.ptr != num.data() + num.size() || !(v > 0.0) || !std::isfinite(v))
      fail("attack method '{}': the learning rate after '@' must be a positive number", name);
    m.lr = v;
  }
  auto ends_with = [&](std::string_view s) { return base.size() > s.size() && base.substr(base.size() - s.size()) == s; };
  if (ends_with("-bcd")) {
    m.structure = Structure::bcd;
    base.remove_suffix(4);
  } else if (ends_with("-sparse")) {
    m.structure = Structure::sparse;
    base.remove_suffix(7);
  }
  try {
    m.optimizer = optimizer_kind_from_string(base);
  } catch (const Error& e) {
    fail("attack method '{}': {}; a method is <optimizer>[-bcd|-sparse][@lr], e.g. r-adazo-bcd@0.01", name, e.what());
  }
  return m;
}

void AttackOptions::validate() const {
  if (!(c > 0.0) || !std::isfinite(c)) fail("attack option c = {}: must be > 0 and finite", c);
  if (!(kappa >= 0.0) || !std::isfinite(kappa)) fail("attack option kappa = {}: must be >= 0 and finite", kappa);
  if (queries < 1) fail("attack option queries = {}: the budget Q must be >= 1", queries);
  estimator.validate();
  if (!(lr > 0.0) || !std::isfinite(lr)) fail("attack option lr = {}: must be > 0 and finite", lr);
  if (!(beta1 >= 0.0 && beta1 < 1.0)) fail("attack option beta1 = {}: must be in [0, 1)", beta1);
  if (!(beta2 >= 0.0 && beta2 < 1.0)) fail("attack option beta2 = {}: must be in [0, 1)", beta2);
  if (patch < 1) fail("attack option patch = {}: must be >= 1", patch);
  if (blocks_per_step < 1) fail("attack option blocks_per_step = {}: must be >= 1", blocks_per_step);
  if (!(keep > 0.0 && keep <= 1.0)) fail("attack option keep = {}: must be in (0, 1]", keep);
}

ScoreFn mlp_scores(const Mlp& victim) {
  return [&victim](std::span<const float> images, std::int64_t rows, std::span<float> log_probs) {
    if (std::int64_t(images.size()) != rows * victim.inputs() || std::int64_t(log_probs.size()) != rows * victim.classes())
      fail("victim scores: {} rows need {} pixels and {} outputs, got {} and {}", rows, rows * victim.inputs(),
           rows * victim.classes(), images.size(), log_probs.size());
    victim.forward(images.data(), rows, log_probs.data());
    log_softmax(log_probs.data(), rows, victim.classes());
  };
}

double attack_loss(std::span<const float> log_probs, int label, double c, double kappa, double distortion_sq) {
  double other = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < log_probs.size(); ++j)
    if (int(j) != label) other = std::max(other, double(log_probs[j]));
  const double margin = double(log_probs[std::size_t(label)]) - other;
  return c * std::max(margin, -kappa) + distortion_sq;
}

namespace {

int argmax(std::span<const float> v) { return int(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

AttackResult attack_image(const ScoreFn& victim, std::span<const float> x0, int label, std::int64_t rows,
                          std::int64_t cols, int classes, const AttackMethod& method, const AttackOptions& options,
                          std::uint64_t run_seed) {
  options.validate();
  const std::int64_t d = rows * cols;
  if (rows < 1 || cols < 1 || std::int64_t(x0.size()) != d)
    fail("attack: image has {} pixels, expected {}×{} = {}", x0.size(), rows, cols, d);
  if (label < 0 || label >= classes) fail("attack: label {} outside [0, {})", label, classes);
  const int patch = method.structure == Structure::bcd ? options.patch : int(std::max(rows, cols));
  if (method.structure == Structure::bcd && (rows % patch != 0 || cols % patch != 0))
    fail("attack option patch = {}: must divide the image's rows ({}) and cols ({})", patch, rows, cols);

  // w is stored patch by patch (one Param per patch, contiguous) so that -bcd blocks are Params; every
  // method uses the same layout. pixel[j] = image index of w[j]. Without -bcd the image is one patch.
  const std::int64_t ph = method.structure == Structure::bcd ? patch : rows;
  const std::int64_t pw = method.structure == Structure::bcd ? patch : cols;
  std::vector<float> w(static_cast<std::size_t>(d));
  std::vector<std::int64_t> pixel(static_cast<std::size_t>(d));
  ParamSet params;
  {
    std::int64_t j = 0;
    for (std::int64_t br = 0; br < rows / ph; ++br)
      for (std::int64_t bc = 0; bc < cols / pw; ++bc) {
        const std::int64_t start = j;
        for (std::int64_t r = 0; r < ph; ++r)
          for (std::int64_t c = 0; c < pw; ++c) pixel[std::size_t(j++)] = (br * ph + r) * cols + bc * pw + c;
        params.add(fmt::format("w.{}.{}", br, bc), DType::f32, {ph, pw}, w.data() + start);
      }
  }
  for (std::int64_t j = 0; j < d; ++j) {
    const float x = x0[std::size_t(pixel[std::size_t(j)])];
    w[std::size_t(j)] = options.box == BoxMethod::tanh ? std::atanh((2.0f * x - 1.0f) * (1.0f - 1e-6f)) : 0.0f;
  }

  DirectionOptions dopt;
  if (method.structure == Structure::bcd) {
    dopt.order = BlockOrder::permutation;
    dopt.blocks_per_step = options.blocks_per_step;
  } else if (method.structure == Structure::sparse) {
    dopt.kind = DirectionKind::sparse;
    dopt.keep = options.keep;
  }
  const Direction direction(dopt, params);
  OptimizerOptions oopt;
  oopt.kind = method.optimizer;
  oopt.lr = method.lr.value_or(options.lr);
  oopt.beta1 = options.beta1;
  oopt.beta2 = options.beta2;
  const auto optimizer = Optimizer::create(oopt);

  const auto to_image = [&](const float* wr, float* x) {
    for (std::int64_t j = 0; j < d; ++j) {
      const std::int64_t p = pixel[std::size_t(j)];
      x[p] = options.box == BoxMethod::tanh ? 0.5f * (std::tanh(wr[j]) + 1.0f)
                                            : std::clamp(x0[std::size_t(p)] + wr[j], 0.0f, 1.0f);
    }
  };
  const auto l2sq = [&](const float* x) {
    double s = 0.0;
    for (std::int64_t p = 0; p < d; ++p) {
      const double e = double(x[p]) - double(x0[std::size_t(p)]);
      s += e * e;
    }
    return s;
  };

  AttackResult res;
  res.label = label;
  double best = std::numeric_limits<double>::infinity();
  std::vector<float> images, scores, center(static_cast<std::size_t>(d));
  int center_label = label;
  double center_l2sq = 0.0;
  const BatchLoss batch_loss = [&](std::span<const float> points, std::int64_t n, std::span<double> losses) {
    images.resize(std::size_t(n * d));
    scores.resize(std::size_t(n * classes));
    for (std::int64_t r = 0; r < n; ++r) to_image(points.data() + r * d, images.data() + r * d);
    victim(images, n, scores);
    for (std::int64_t r = 0; r < n; ++r) {
      const double dist = l2sq(images.data() + r * d);
      const std::span<const float> lp(scores.data() + r * classes, std::size_t(classes));
      losses[std::size_t(r)] = attack_loss(lp, label, options.c, options.kappa, dist);
      if (r == 0) {
        center_label = argmax(lp);
        center_l2sq = dist;
        std::copy(images.begin(), images.begin() + d, center.begin());
      }
    }
    res.queries_used += n;
  };
  // Records the evaluation of the current point (row 0): success, best δ.
  const auto note_center = [&](std::int64_t query_index) {
    if (center_label == label) return;
    if (!res.success) {
      res.success = true;
      res.first_success_query = query_index;
      res.first_success_step = res.steps;
      res.l2_at_first_success = std::sqrt(center_l2sq);
    }
    if (center_l2sq < best) {
      best = center_l2sq;
      res.adversarial = center;
      res.adversarial_label = center_label;
    }
  };

  // The step loop, with every step's probes evaluated as one batch of the victim's forward pass; the
  // query budget Q is the driver's evaluation budget.
  const EstimatorOptions& eopt = options.estimator;
  const EstimateFn estimate = [&](std::int64_t step) {
    res.steps = step;
    const std::int64_t first_query = res.queries_used + 1;
    Estimate est = batched_estimate(batch_loss, params, direction, eopt, run_seed, step);
    note_center(first_query);
    res.curve.push_back(est.loss);
    res.final_loss = est.loss;
    res.final_label = center_label;
    res.final_l2 = std::sqrt(center_l2sq);
    return est;
  };
  StepDriver driver(params, direction, *optimizer,
                    {.seed = run_seed,
                     .max_steps = std::numeric_limits<std::int64_t>::max(),
                     .lr = oopt.lr,
                     .nan_policy = NanPolicy::stop,
                     .max_evaluations = options.queries});
  const StepSummary run = driver.run(estimate, batch_rows(eopt));
  res.steps = run.steps;
  if (run.termination == Termination::non_finite_loss) return res;  // a NaN score: stop rather than write NaN into w
  if (res.queries_used < options.queries) {
    // The last point after the final update: one query.
    std::vector<double> f(1);
    std::vector<float> row(w.begin(), w.end());
    batch_loss(row, 1, f);
    note_center(res.queries_used);
    res.final_loss = f[0];
    res.final_label = center_label;
    res.final_l2 = std::sqrt(center_l2sq);
  }
  res.best_l2 = res.success ? std::sqrt(best) : 0.0;
  if (!res.success) {
    res.adversarial = center;
    res.adversarial_label = center_label;
  }
  return res;
}

std::vector<std::int64_t> select_images(const Mlp& victim, const ImageDataset& data, std::int64_t count,
                                        std::int64_t first) {
  if (count < 1) fail("images = {}: must be >= 1", count);
  if (count > data.count) fail("images = {}: the test set holds only {} images", count, data.count);
  if (first < 0 || first >= data.count) fail("first image = {}: must be in [0, {})", first, data.count);
  const std::int64_t p = data.pixels_per_image(), k = victim.classes(), batch = 256;
  std::vector<float> x(static_cast<std::size_t>(batch * p)), logits(static_cast<std::size_t>(batch * k));
  std::vector<std::int64_t> out;
  for (std::int64_t s = first; s < data.count && std::int64_t(out.size()) < count; s += batch) {
    const std::int64_t n = std::min(batch, data.count - s);
    for (std::int64_t r = 0; r < n; ++r) data.image(s + r, x.data() + r * p);
    victim.forward(x.data(), n, logits.data());
    for (std::int64_t r = 0; r < n && std::int64_t(out.size()) < count; ++r)
      if (argmax({logits.data() + r * k, std::size_t(k)}) == data.labels[std::size_t(s + r)]) out.push_back(s + r);
  }
  if (std::int64_t(out.size()) < count)
    fail("images = {}: only {} images from index {} on are classified correctly by the victim", count, out.size(),
         first);
  return out;
}

void check_victim_fits(const Mlp& victim, const std::string& victim_name, const ImageDataset& data,
                       const std::string& data_name) {
  if (victim.inputs() != data.pixels_per_image())
    fail("victim {} takes {} inputs, but the images in {} have {}×{} = {} pixels", victim_name, victim.inputs(),
         data_name, data.rows, data.cols, data.pixels_per_image());
  int max_label = 0;
  for (auto l : data.labels) max_label = std::max(max_label, int(l));
  if (victim.classes() <= max_label)
    fail("victim {} has {} classes, but {} has label {}", victim_name, victim.classes(), data_name, max_label);
}

std::vector<AttackJob> run_attacks(const Mlp& victim, const ImageDataset& data, std::span<const std::int64_t> images,
                                   std::span<const AttackMethod> methods, const AttackOptions& options,
                                   std::uint64_t seed, int threads,
                                   const std::function<void(const AttackJob&, std::size_t, std::size_t)>& progress) {
  options.validate();
  if (threads < 1) fail("threads = {}: must be >= 1", threads);
  if (methods.empty()) fail("no attack methods given");
  check_victim_fits(victim, "model", data, "data set");
  std::vector<AttackJob> jobs;
  for (const auto i : images)
    for (std::size_t m = 0; m < methods.size(); ++m) jobs.push_back({i, m, {}});
  const ScoreFn scores = mlp_scores(victim);
  std::mutex mutex;
  std::exception_ptr error;
  std::size_t done = 0;
  const std::int64_t n_jobs = std::int64_t(jobs.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (std::int64_t j = 0; j < n_jobs; ++j) {
    try {
      // Each job is sequential: the optimizer's fused passes over 784 pixels gain nothing from threads.
      omp_set_num_threads(1);
      AttackJob& job = jobs[std::size_t(j)];
      std::vector<float> x0(static_cast<std::size_t>(data.pixels_per_image()));
      data.image(job.image, x0.data());
      job.result = attack_image(scores, x0, data.labels[std::size_t(job.image)], data.rows, data.cols,
                                int(victim.classes()), methods[job.method], options,
                                derive_seed(seed, std::uint64_t(job.image)));
      std::lock_guard lock(mutex);
      ++done;
      if (progress) progress(job, done, jobs.size());
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return jobs;
}

std::vector<MethodSummary> summarize(std::span<const AttackJob> jobs, std::span<const AttackMethod> methods) {
  std::vector<MethodSummary> out;
  for (std::size_t m = 0; m < methods.size(); ++m) {
    MethodSummary s;
    s.method = methods[m].label();
    std::vector<double> q;
    double l2_first = 0.0, l2_best = 0.0, loss = 0.0;
    for (const auto& j : jobs) {
      if (j.method != m) continue;
      ++s.images;
      loss += j.result.final_loss;
      if (!j.result.success) continue;
      ++s.successes;
      q.push_back(double(j.result.first_success_query));
      l2_first += j.result.l2_at_first_success;
      l2_best += j.result.best_l2;
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.success_rate = s.images ? double(s.successes) / double(s.images) : nan;
    s.mean_final_loss = s.images ? loss / double(s.images) : nan;
    if (s.successes) {
      double sum = 0.0;
      for (double v : q) sum += v;
      s.mean_first_success_query = sum / double(q.size());
      std::sort(q.begin(), q.end());
      const std::size_t h = q.size() / 2;
      s.median_first_success_query = q.size() % 2 ? q[h] : 0.5 * (q[h - 1] + q[h]);
      s.mean_l2_at_first_success = l2_first / double(s.successes);
      s.mean_best_l2 = l2_best / double(s.successes);
    } else {
      s.mean_first_success_query = s.median_first_success_query = s.mean_l2_at_first_success = s.mean_best_l2 = nan;
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace zo::tasks
