#include "zo/train/communicator.hpp"

#include "zo/util/error.hpp"

#include <algorithm>
#include <cstdlib>

namespace zo {

std::vector<double> SingleProcess::allgather(std::span<const double> local) {
  ++stats_.exchanges;
  return {local.begin(), local.end()};
}

void SingleProcess::abort(int code) { std::exit(code); }

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Shard shard_of(std::size_t n, int parts, int r) {
  if (parts < 1 || r < 0 || r >= parts) fail("shard_of: rank {} of {} ranks: must be in [0, {})", r, parts, parts);
  const std::size_t p = std::size_t(parts), q = n / p, extra = n % p, i = std::size_t(r);
  const std::size_t begin = i * q + std::min(i, extra);
  return {begin, begin + q + (i < extra ? 1 : 0)};
}

#ifndef ZO_WITH_MPI
bool built_with_mpi() { return false; }
Communicator& world_communicator() {
  fail("MPI: zo was built without MPI (configure with -DZO_MPI=ON where an MPI library, e.g. Open MPI, is installed)");
}
#endif

}  // namespace zo
