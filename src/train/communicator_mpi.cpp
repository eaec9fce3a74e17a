// The MPI communicator (built when CMake finds MPI and ZO_MPI is on): MPI_COMM_WORLD, an all-gather of
// the counts (MPI_Allgather) then of the doubles (MPI_Allgatherv). MPI's default error handler
// (MPI_ERRORS_ARE_FATAL) ends the job on a communication failure; Open MPI's mpirun also ends it when
// a rank dies, so no exchange waits forever on a dead rank.
#include "zo/train/communicator.hpp"

#include "zo/util/error.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>

namespace zo {

namespace {

class MpiWorld final : public Communicator {
 public:
  MpiWorld() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Finalize();
      });
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string v(version, std::size_t(length));
    if (const std::size_t comma = v.find(','); comma != std::string::npos) v.resize(comma);
    describe_ = fmt::format("MPI ({}), {} ranks", v, size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::vector<double> allgather(std::span<const double> local) override {
    const auto t0 = std::chrono::steady_clock::now();
    const int mine = int(local.size());
    const std::size_t n = static_cast<std::size_t>(size_);
    std::vector<int> counts(n), offsets(n);
    MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[std::size_t(r)] = total;
      total += counts[std::size_t(r)];
    }
    std::vector<double> all(static_cast<std::size_t>(total));
    MPI_Allgatherv(local.data(), mine, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, MPI_COMM_WORLD);
    ++stats_.exchanges;
    stats_.bytes_sent += std::int64_t(sizeof(int)) + std::int64_t(sizeof(double)) * mine;
    stats_.bytes_received += std::int64_t(sizeof(int)) * (size_ - 1) + std::int64_t(sizeof(double)) * (total - mine);
    stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return all;
  }
  void barrier() override {
    const auto t0 = std::chrono::steady_clock::now();
    MPI_Barrier(MPI_COMM_WORLD);
    stats_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }
  std::string describe() const override { return describe_; }

 private:
  int rank_ = 0, size_ = 1;
  std::string describe_;
};

}  // namespace

bool built_with_mpi() { return true; }

Communicator& world_communicator() {
  static MpiWorld world;
  return world;
}

}  // namespace zo
