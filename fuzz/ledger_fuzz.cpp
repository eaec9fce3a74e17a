// The seed ledger: read_ledger, then what `zo replay` does with it (replay_ledger onto a parameter
// set of one f32 tensor "w" of 2 elements, the one the seed ledgers describe), then what resume does
// (LedgerWriter::resume cuts it back to a step and the run appends the next row), and the ledger must
// read back as those rows.
#include "fuzz_util.hpp"

#include "zo/core/params.hpp"
#include "zo/train/ledger.hpp"
#include "zo/train/replay.hpp"
#include "zo/train/trainer.hpp"
#include "zo/util/error.hpp"

namespace {

// A tiny run whose ledger replays: f(w) = Σ (w − t)² over a batch of targets t.
class Quadratic final : public zo::TrainObjective {
 public:
  Quadratic() { set_.add("w", zo::DType::f32, {2}, w_); }
  zo::ParamSet& params() override { return set_; }
  std::size_t train_size() const override { return 4; }
  double loss(std::span<const std::size_t> batch) override {
    double sum = 0;
    for (std::size_t i : batch) sum += (w_[0] - double(i)) * (w_[0] - double(i)) + (w_[1] + double(i)) * (w_[1] + double(i));
    return sum;
  }
  zo::Evaluation evaluate() override { return {}; }

 private:
  float w_[2] = {0.5f, -0.25f};
  zo::ParamSet set_;
};

}  // namespace

// ZO_FUZZ_WRITE_SEEDS=DIR writes the ledgers of two tiny runs into DIR and exits (fuzz/corpus/ledger).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* out = std::getenv("ZO_FUZZ_WRITE_SEEDS");
  if (out == nullptr) return 0;
  for (int run = 0; run < 2; ++run) {
    Quadratic objective;
    zo::TrainerOptions o;
    o.steps = 5;
    o.batch_size = 2;
    o.seed = 7 + std::uint64_t(run);
    o.evaluate = false;
    o.out_dir = zo::fuzz::scratch("ledger") / ("run" + std::to_string(run));
    o.optimizer.lr = 1e-2;
    if (run == 1) {
      o.optimizer.kind = zo::OptimizerKind::r_adazo;
      o.estimator.queries = 2;
      o.estimator.difference = zo::Difference::forward;
    }
    zo::Trainer(objective, o).run();
    std::filesystem::create_directories(out);
    std::filesystem::copy_file(o.out_dir / "ledger.tsv", std::filesystem::path(out) / ("trained_" + std::to_string(run)),
                               std::filesystem::copy_options::overwrite_existing);
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& dir = zo::fuzz::scratch("ledger");
  const std::filesystem::path path = dir / "ledger.tsv";
  zo::fuzz::put_file(path, zo::fuzz::as_text(data, size));
  try {
    const zo::Ledger ledger = zo::read_ledger(path);
    if (ledger.valid_bytes > size) __builtin_trap();
    for (const zo::LedgerRow& row : ledger.rows) zo::fuzz::sink = zo::fuzz::sink + std::uint64_t(row.step) + row.losses.size();
    try {
      float w[2] = {0.5f, -0.25f};
      zo::ParamSet params;
      params.add("w", zo::DType::f32, {2}, w);
      zo::fuzz::sink = zo::fuzz::sink + std::uint64_t(zo::replay_ledger(ledger, params, "ledger.tsv").steps);
    } catch (const zo::Error&) {
    }
    // Resume after row `keep` (a pick that depends on the input): rows from then on are cut off.
    const std::size_t keep = ledger.rows.empty() ? 0 : size % (ledger.rows.size() + 1);
    const std::int64_t next = keep == 0 ? 0 : ledger.rows[keep - 1].step + 1;
    {
      zo::LedgerWriter writer = zo::LedgerWriter::resume(path, ledger.config, next);
      if (writer.rows() != std::int64_t(keep)) __builtin_trap();
      writer.append({.step = next, .probes = {{.draw = {.seed = 1, .scale = 1.0f}, .rho = 0.5}}, .losses = {1.0, 2.0}, .lr = 0.1,
                     .blocks = {0}, .skipped = false});
    }
    const zo::Ledger again = zo::read_ledger(path);
    if (again.rows.size() != keep + 1 || again.rows.back().step != next || !again.warning.empty()) __builtin_trap();
    for (std::size_t i = 0; i < keep; ++i)
      if (zo::format_ledger_row(again.rows[i]) != zo::format_ledger_row(ledger.rows[i])) __builtin_trap();
  } catch (const zo::Error&) {
  }
  return 0;
}
