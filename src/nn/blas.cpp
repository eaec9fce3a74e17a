#include "zo/nn/blas.hpp"

#include <cblas.h>

#include <cstdlib>

namespace zo::nn {

std::string blas_core() {
  const char* name = openblas_get_corename();
  return name != nullptr ? std::string(name) : std::string();
}

std::string blas_threading() {
  switch (openblas_get_parallel()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "OpenMP";
    default: return "unknown";
  }
}

std::string blas_core_upgrade() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || blas_core() != "Prescott") return {};
#if defined(__x86_64__) && defined(__GNUC__)
  // __builtin_cpu_supports also checks that the operating system saves the vector registers.
  if (__builtin_cpu_supports("avx512bf16")) return "Cooperlake";
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return {};
}

}  // namespace zo::nn
