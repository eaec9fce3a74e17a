// The seed ledger: read_ledger, then what resume does with it (LedgerWriter::resume cuts it back to
// a step and the run appends the next row), and the ledger must read back as those rows.
#include "fuzz_util.hpp"

#include "zo/train/ledger.hpp"
#include "zo/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path& dir = zo::fuzz::scratch("ledger");
  const std::filesystem::path path = dir / "ledger.tsv";
  zo::fuzz::put_file(path, zo::fuzz::as_text(data, size));
  try {
    const zo::Ledger ledger = zo::read_ledger(path);
    if (ledger.valid_bytes > size) __builtin_trap();
    for (const zo::LedgerRow& row : ledger.rows) zo::fuzz::sink = zo::fuzz::sink + std::uint64_t(row.step) + row.losses.size();
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
