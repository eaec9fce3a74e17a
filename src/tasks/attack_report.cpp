// Files of a `zo attack` run: CSVs, loss and success curves, the examples grid, the summary table.
#include "zo/util/files.hpp"
#include "zo/util/error.hpp"
#include "zo/tasks/attack.hpp"
#include "zo/util/plot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace zo::tasks {

namespace {

std::string num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "";
  return fmt::format("{:.{}g}", v, digits);
}

// Short class name for the pictures (Fashion-MNIST's when the labels are 0..9).
std::string class_name(int label) {
  if (label >= 0 && label < 10) return std::string(fashion_mnist_class(label));
  return std::to_string(label);
}

}  // namespace

std::string write_attack_outputs(const std::filesystem::path& dir, const ImageDataset& data,
                                 std::span<const AttackJob> jobs, std::span<const AttackMethod> methods,
                                 const AttackOptions& options, int examples) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("output folder {}: cannot create: {}", dir.string(), ec.message());

  // results.csv
  std::string csv =
      "image,label,optimizer,success,first_success_query,first_success_step,l2_at_first_success,best_l2,final_l2,"
      "final_loss,final_label,adversarial_label,queries_used\n";
  for (const auto& j : jobs) {
    const auto& r = j.result;
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", j.image, r.label, methods[j.method].label(),
                       r.success ? 1 : 0, r.first_success_query, r.first_success_step,
                       r.success ? num(r.l2_at_first_success, 6) : "", r.success ? num(r.best_l2, 6) : "",
                       num(r.final_l2, 6), num(r.final_loss, 6), r.final_label, r.adversarial_label, r.queries_used);
  }
  write_file_atomic(dir / "results.csv", csv);

  // curves.csv: mean loss at the current point per step, and the fraction of images attacked so far.
  const std::int64_t per_step = options.estimator.difference == Difference::forward
                                    ? options.estimator.queries + 1
                                    : 2 * std::int64_t(options.estimator.queries) + 1;
  std::string curves = "optimizer,query,mean_loss,success_rate\n";
  std::vector<Series> loss_series, success_series;
  bool all_positive = true;
  for (std::size_t m = 0; m < methods.size(); ++m) {
    std::size_t steps = std::numeric_limits<std::size_t>::max();
    std::vector<const AttackResult*> rs;
    for (const auto& j : jobs)
      if (j.method == m) {
        rs.push_back(&j.result);
        steps = std::min(steps, j.result.curve.size());
      }
    if (rs.empty()) continue;
    Series ls{methods[m].label(), {}, {}}, ss{methods[m].label(), {}, {}};
    for (std::size_t s = 0; s < steps; ++s) {
      const std::int64_t query = std::int64_t(s) * per_step + 1;
      double mean = 0.0;
      std::int64_t succeeded = 0;
      for (const auto* r : rs) {
        mean += r->curve[s];
        if (r->success && r->first_success_query <= query) ++succeeded;
      }
      mean /= double(rs.size());
      const double rate = double(succeeded) / double(rs.size());
      if (!(mean > 0.0)) all_positive = false;
      curves += fmt::format("{},{},{},{}\n", methods[m].label(), query, num(mean, 6), num(rate, 6));
      ls.x.push_back(double(query));
      ls.y.push_back(mean);
      ss.x.push_back(double(query));
      ss.y.push_back(rate);
    }
    loss_series.push_back(std::move(ls));
    success_series.push_back(std::move(ss));
  }
  write_file_atomic(dir / "curves.csv", curves);
  PlotOptions po;
  po.title = fmt::format("Attack: mean loss over {} images", jobs.size() / methods.size());
  po.x_label = "queries";
  po.y_label = all_positive ? "mean loss (log scale)" : "mean loss";
  po.log_y = all_positive;
  write_line_plot(dir / "curves.png", loss_series, po);
  po.title = "Attack: fraction of images fooled";
  po.y_label = "success rate";
  po.log_y = false;
  write_line_plot(dir / "success.png", success_series, po);

  // examples.png: rows = images; columns = original, then per method adversarial and perturbation.
  std::vector<std::int64_t> shown;
  for (const auto& j : jobs)
    if (std::find(shown.begin(), shown.end(), j.image) == shown.end() && std::int64_t(shown.size()) < examples)
      shown.push_back(j.image);
  if (!shown.empty()) {
    const int scale = 3, iw = int(data.cols) * scale, ih = int(data.rows) * scale;
    int cell_w = iw + 12;
    for (const auto& m : methods) cell_w = std::max(cell_w, Canvas::text_width(m.label()) + 8);
    cell_w = std::max(cell_w, Canvas::text_width("T-shirt/top") + 8);
    const int cell_h = ih + 34, header = 34;
    const int cols = 1 + 2 * int(methods.size());
    Canvas canvas(cols * cell_w + 8, header + int(shown.size()) * cell_h + 8);
    const Rgb black{0, 0, 0}, red{200, 0, 0}, gray{90, 90, 90};
    canvas.text(4, 4, "original", black);
    for (std::size_t m = 0; m < methods.size(); ++m) {
      const int x = int(1 + 2 * m) * cell_w + 4;
      canvas.text(x, 4, methods[m].label(), black);
      canvas.text(x, 16, "adversarial", gray);
      canvas.text(x + cell_w, 16, "perturbation", gray);
    }
    const std::int64_t p = data.pixels_per_image();
    std::vector<float> x0(static_cast<std::size_t>(p)), pert(static_cast<std::size_t>(p));
    for (std::size_t r = 0; r < shown.size(); ++r) {
      const int y = header + int(r) * cell_h;
      data.image(shown[r], x0.data());
      const int label = data.labels[std::size_t(shown[r])];
      canvas.gray_image(4, y, x0, int(data.cols), int(data.rows), scale);
      canvas.text(4, y + ih + 3, class_name(label), black);
      canvas.text(4, y + ih + 13, fmt::format("#{}", shown[r]), gray);
      for (const auto& j : jobs) {
        if (j.image != shown[r]) continue;
        const auto& res = j.result;
        const int x = int(1 + 2 * j.method) * cell_w + 4;
        if (std::int64_t(res.adversarial.size()) != p) continue;
        canvas.gray_image(x, y, res.adversarial, int(data.cols), int(data.rows), scale);
        canvas.text(x, y + ih + 3, class_name(res.adversarial_label), res.success ? red : black);
        canvas.text(x, y + ih + 13, res.success ? "fooled" : "not fooled", gray);
        float amax = 1e-12f;
        for (std::int64_t i = 0; i < p; ++i) amax = std::max(amax, std::abs(res.adversarial[std::size_t(i)] - x0[std::size_t(i)]));
        for (std::int64_t i = 0; i < p; ++i)
          pert[std::size_t(i)] = 0.5f + 0.5f * (res.adversarial[std::size_t(i)] - x0[std::size_t(i)]) / amax;
        canvas.gray_image(x + cell_w, y, pert, int(data.cols), int(data.rows), scale);
        double l2 = 0.0;
        for (std::int64_t i = 0; i < p; ++i) {
          const double e = double(res.adversarial[std::size_t(i)]) - x0[std::size_t(i)];
          l2 += e * e;
        }
        canvas.text(x + cell_w, y + ih + 3, fmt::format("L2 {:.2f}", std::sqrt(l2)), black);
        canvas.text(x + cell_w, y + ih + 13, fmt::format("x{:.0f}", 0.5f / amax), gray);
      }
    }
    canvas.save_png(dir / "examples.png");
  }

  // The summary table (markdown).
  const auto summary = summarize(jobs, methods);
  std::string table = fmt::format(
      "| method | success rate | mean queries to 1st success | median | mean ‖δ‖₂ at 1st success | mean best ‖δ‖₂ | "
      "mean final loss |\n|---|---|---|---|---|---|---|\n");
  for (const auto& s : summary)
    table += fmt::format("| {} | {:.2f} ({}/{}) | {} | {} | {} | {} | {} |\n", s.method, s.success_rate, s.successes,
                         s.images, num(s.mean_first_success_query, 5), num(s.median_first_success_query, 5),
                         num(s.mean_l2_at_first_success, 3), num(s.mean_best_l2, 3), num(s.mean_final_loss, 4));
  write_file_atomic(dir / "summary.md", table);
  return table;
}

}  // namespace zo::tasks
