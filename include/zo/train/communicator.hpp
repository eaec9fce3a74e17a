// The ranks of a data-parallel job and the one exchange zo needs between them: every rank's doubles,
// concatenated in rank order, on every rank (an all-gather). A ZO step is a few scalars, so this is
// all a distributed run ever moves: per-example losses (data-parallel) or (f₊, f₋) per probe
// (probe-parallel) — never a gradient or a weight (docs/distributed.md).
//
//   SingleProcess        rank 0 of 1; allgather returns its input
//   world_communicator() the MPI job this process runs in (MPI_COMM_WORLD, Open MPI's mpirun); MPI is
//                        initialised on the first call and finalised at exit. Throws zo::Error
//                        "built without MPI" when zo was built without it (CMake option ZO_MPI).
//
// A failed rank must not leave the others blocked in an exchange: abort() ends the whole job
// (MPI_Abort), which `zo finetune` calls when a rank throws.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace zo {

// What this rank exchanged so far.
struct CommStats {
  std::int64_t exchanges = 0;       // allgather calls
  std::int64_t bytes_sent = 0;      // payload this rank contributed (counts and values)
  std::int64_t bytes_received = 0;  // payload this rank received from the other ranks
  double wait_seconds = 0.0;        // wall time inside exchanges: waiting for the slowest rank, plus transfer
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;  // 0 … size − 1
  virtual int size() const = 0;  // >= 1
  // Every rank's `local` (any length, possibly empty), concatenated in rank order. Collective: every
  // rank must call it, in the same order.
  virtual std::vector<double> allgather(std::span<const double> local) = 0;
  // Blocks until every rank has called it.
  virtual void barrier() = 0;
  // Ends every rank of the job with exit code `code` (does not return).
  [[noreturn]] virtual void abort(int code) = 0;
  // "single process" or "MPI (Open MPI …), N ranks".
  virtual std::string describe() const = 0;
  const CommStats& stats() const { return stats_; }

 protected:
  CommStats stats_{};
};

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<double> allgather(std::span<const double> local) override;
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
  std::string describe() const override { return "single process"; }
};

// True when zo was built with MPI (CMake option ZO_MPI).
bool built_with_mpi();
// True when this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE
// or PMIX_RANK); works without MPI, to refuse such a start with "built without MPI".
bool launched_by_mpi();
// The MPI world (see above). The same object on every call.
Communicator& world_communicator();

// Contiguous shard r of n items over `parts` ranks: [begin, end), the first n % parts shards one longer.
struct Shard {
  std::size_t begin = 0, end = 0;
};
Shard shard_of(std::size_t n, int parts, int r);

}  // namespace zo
