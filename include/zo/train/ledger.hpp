// The seed ledger: one row per training step, enough to rebuild the fine-tuned weights from the base
// model alone (docs/design.md: "a step is fully described by a few numbers"). `zo replay` reads it.
//
// File format (text, '\n' line ends), version 1:
//   line 1   zo-ledger 1                      magic and format version
//   line 2   config <JSON object on one line> what replay needs besides the rows: the trainable
//                                             parameter set, direction, estimator and optimizer options,
//                                             and "z_stream": the z-stream version (random.hpp) the
//                                             run drew from (absent: version 1)
//   line 3…  one row per step, fields separated by one tab:
//            step  seeds  scales  rhos  losses  lr  blocks  skipped  crc
//              step     the step index (0-based, as the estimator saw it); strictly increasing
//              seeds    probe seeds, ';'-separated, decimal u64
//              scales   probe draw scales (float, shortest round-trip decimal), ';'-separated
//              rhos     ρ per probe (double, shortest round-trip decimal), ';'-separated
//              losses   every loss evaluation of the step in the order the estimator made them
//                       (central: f₊,f₋ per probe; forward: f₀ then f_k), ';'-separated
//              lr       the scheduled learning rate used (double)
//              blocks   indices of the blocks that moved, ';'-separated ('-' when none)
//              skipped  1 when the update was skipped (non-finite loss under nan-policy skip), else 0
//              crc      CRC-32 (zlib) of the row's text before this field's tab, 8 lower-case hex digits
// Doubles are written in the shortest decimal form that reads back to the same bits, so replay
// recomputes ρ = (f₊ − f₋)/2ε from the recorded losses bit for bit.
//
// Durability: each row is one write(2) of the whole line, and the file is fsync'ed every
// `fsync_every` rows (default: every row) and on flush/close. A kill can only leave the last line
// without its '\n': read_ledger drops such a tail and says so in Ledger::warning. Any other defect
// (bad magic, a row that does not parse, a CRC mismatch, a step out of order) is a zo::Error naming
// the file and line.
#pragma once

#include "zo/optim/estimator.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace zo {

struct LedgerRow {
  std::int64_t step = 0;
  std::vector<Probe> probes;           // draw (seed, scale) and ρ per probe
  std::vector<double> losses;          // every evaluation of the step, in order
  double lr = 0.0;
  std::vector<std::uint32_t> blocks;   // the blocks that moved
  bool skipped = false;
};

struct Ledger {
  nlohmann::json config;               // line 2's object
  std::vector<LedgerRow> rows;
  std::uint64_t valid_bytes = 0;       // bytes up to the end of the last complete row
  std::string warning;                 // non-empty when a truncated last row was dropped
};

// The z-stream version a ledger config records: its "z_stream", 1 when absent. Throws zo::Error naming
// `where` when it is not an integer.
int ledger_z_stream(const nlohmann::json& config, const std::string& where);

// Reads and validates a ledger (see the file format above).
Ledger read_ledger(const std::filesystem::path& path);

// The row's line without its '\n' (including the CRC field); exposed for tests and tools.
std::string format_ledger_row(const LedgerRow& row);

class LedgerWriter {
 public:
  // Creates a new ledger with `config`; throws zo::Error when the file exists or cannot be written.
  // The header is written to a temporary file that is then linked into place: the ledger appears
  // with its whole header or not at all.
  static LedgerWriter create(const std::filesystem::path& path, const nlohmann::json& config, int fsync_every = 1);
  // Reopens an existing ledger to continue a run from `next_step`: rows with step >= next_step (written
  // after the checkpoint being resumed) and a truncated tail are cut off (ftruncate + fsync). Throws
  // zo::Error when the file's config differs from `config`, it was recorded with another z-stream
  // version (check_z_stream_version), or rows are missing before next_step.
  static LedgerWriter resume(const std::filesystem::path& path, const nlohmann::json& config, std::int64_t next_step,
                             int fsync_every = 1);

  LedgerWriter(LedgerWriter&&) noexcept;
  LedgerWriter& operator=(LedgerWriter&&) noexcept;
  ~LedgerWriter();  // flushes; never throws

  // Appends one row; its step must exceed the previous row's. Throws zo::Error naming the file on I/O
  // failure.
  void append(const LedgerRow& row);
  void flush();  // fsync now
  const std::filesystem::path& path() const { return path_; }
  std::int64_t rows() const { return rows_; }
  // After resume: Ledger::warning of the file as it was (a truncated last row dropped), else "".
  const std::string& warning() const { return warning_; }

 private:
  LedgerWriter(std::filesystem::path path, int fd, int fsync_every, std::int64_t rows, std::int64_t last_step);
  std::filesystem::path path_;
  int fd_ = -1;
  int fsync_every_ = 1;
  int unsynced_ = 0;
  std::int64_t rows_ = 0;
  std::int64_t last_step_ = -1;
  std::string warning_;
};

}  // namespace zo
