// `zo finetune`: zo::finetune (include/zo/train/finetune.hpp) with its options as flags, a JSON
// config file keyed by the same names ("template" holds a custom task's template), and a progress
// line. Every option is described in docs/finetune.md.
#include "command.hpp"
#include "option_binding.hpp"

#include "zo/train/finetune.hpp"
#include "zo/util/error.hpp"
#include "zo/util/files.hpp"
#include "zo/util/progress.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace zo::app {
namespace {

void run(const OptionBinding<FinetuneOptions>& binding) {
  FinetuneOptions o;
  binding.apply(o, [&](const std::string& key, const nlohmann::json& value) {
    if (key != "template") return false;  // a custom task's template (docs/finetune.md)
    o.custom_template = value;
    return true;
  });
  OptionBinding<FinetuneOptions>::usage_errors([&] { o.validate(); });

  std::optional<Progress> progress;
  std::string last_eval;
  std::int64_t first_step = -1;
  FinetuneCallbacks callbacks;
  callbacks.on_step = [&](const TrainStep& s) {
    if (!progress) {
      first_step = s.step - 1;  // > 0 when resumed
      progress.emplace(ProgressOptions{.label = fmt::format("finetune {} {}", o.task, o.optimizer),
                                       .total = o.steps,
                                       .start = first_step});
    }
    const double rate = s.seconds > 0 ? double(s.step - first_step) / s.seconds : 0.0;
    progress->update(s.step, fmt::format("loss {:.4g}  lr {:.3g}  {:.3g} steps/s{}", s.loss, s.lr, rate, last_eval), s.seconds);
  };
  callbacks.on_eval = [&](std::int64_t step, const Evaluation& e) {
    last_eval = fmt::format("  acc {:.3f} margin {:+.3f} (step {})", e.accuracy, e.margin, step);
  };

  const FinetuneResult r = finetune(o, callbacks);
  if (r.rank != 0) return;  // a distributed run reports from rank 0 only
  if (o.steps == 0) {
    const Evaluation& e = *r.last_eval;
    std::fprintf(stderr,
                 "zo finetune: evaluation only: accuracy %.4f (balanced %.4f), margin %+.4f, loss %.4f on %lld "
                 "examples (%.1f s); summary in %s\n",
                 e.accuracy, e.balanced_accuracy, e.margin, e.loss, static_cast<long long>(e.examples),
                 r.summary.eval_seconds, (std::filesystem::path(o.out) / "summary.json").c_str());
    return;
  }
  const TrainSummary& s = r.summary;
  const double steps_run = double(s.steps - s.start_step);
  if (progress) {
    progress->finish(fmt::format("loss {:.4g}  {:.3g} steps/s{}", s.losses.empty() ? 0.0 : s.losses.back(),
                                 s.seconds > 0 ? steps_run / s.seconds : 0.0, last_eval));
  }
  std::fprintf(stderr, "zo finetune: %s; %.3g s/step; peak RSS %.1f MB; weights in %s\n", s.message.c_str(),
               steps_run > 0 ? s.seconds / steps_run : 0.0, r.peak_rss_mb, (std::filesystem::path(o.out) / "model").c_str());
  if (s.termination == Termination::non_finite_loss) fail("{}", s.message);
}

void setup(CLI::App& sub) {
  auto binding = std::make_shared<OptionBinding<FinetuneOptions>>(sub, finetune_option_list());
  sub.callback([binding] { run(*binding); });
}

const bool registered = register_command({"finetune", "Fine-tune a language model on a prompt task with ZO (MeZO, MeZO-BCD, R-AdaZO …)", setup});

}  // namespace
}  // namespace zo::app
