// The BLAS library behind the CPU backend's matrix products (OpenBLAS): which kernel set it runs,
// and the one it should run on this CPU.
//
// OpenBLAS built for several CPUs (DYNAMIC_ARCH, as Debian ships it) picks its kernels once, when
// the library loads: from the environment variable OPENBLAS_CORETYPE when it is set, else from the
// CPU's model number. A model it does not know gets its generic "Prescott" (SSE3) kernels. Debian
// 12's OpenBLAS 0.3.21 does not know recent Xeons (Sapphire and Emerald Rapids, family 6 models 143
// and 207), so there sgemm runs at about a quarter of the speed of its AVX-512 kernels on the same
// CPU (bench/results/blas-core/). The choice cannot be changed later in the same process: a
// program that wants the better kernels sets OPENBLAS_CORETYPE and starts again (the `zo` command
// does, apps/zo/main.cpp).
#pragma once

#include <string>

namespace zo::nn {

// The kernel set OpenBLAS runs in this process, as OpenBLAS names it ("Haswell", "SkylakeX",
// "Cooperlake", "Zen", "Prescott", …).
std::string blas_core();

// How OpenBLAS runs its threads in this process: "OpenMP" (the build zo links when it is installed:
// the same threads as zo's own OpenMP loops), "pthreads" (threads of its own) or "sequential".
std::string blas_threading();

// The kernel set to request through OPENBLAS_CORETYPE because OpenBLAS fell back to its generic
// kernels on a CPU with wider vector units: "Cooperlake" when the CPU has AVX-512 with bfloat16
// (AVX512_BF16), else "SkylakeX" with AVX-512 F, BW, DQ and VL, else "Haswell" with AVX2 and FMA.
// Empty when OpenBLAS chose anything but "Prescott" (its own choice stands), when the CPU has none
// of these units, or when OPENBLAS_CORETYPE is already set (the user's choice stands).
std::string blas_core_upgrade();

}  // namespace zo::nn
