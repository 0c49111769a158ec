/*
 * sim_build.h: a model's kernels for the sim executor, built at run time.
 *
 * Takes kernels.cu and kernels_sim.cc from the model build, writes them beside the emulator's sources (embedded in gptc with the
 * templates) into a folder of the compile cache named by the content hash
 * of everything that goes into the build, and compiles them there with the
 * system C++ compiler ($CXX, else c++) into kernels_sim.so, unless a
 * previous run already did. The caller dlopens the result and hands the
 * handle to gpu_sim_open.
 */
#ifndef GPTC_SIM_BUILD_H
#define GPTC_SIM_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/build.h"

/* The compiler flags: no FMA contraction (NVRTC compiles with
 * --fmad=false), no strict aliasing (CUDA code reinterprets pointers). */
#define SIM_BUILD_FLAGS "-O2 -shared -fPIC -std=c++17 -ffp-contract=off -fno-strict-aliasing"

/* The path of the model's kernels_sim.so in so_path; false with the reason
 * (and the compiler's log) in err. */
bool sim_build_kernels(const ModelBuild *b, char *so_path, size_t cap, char *err, size_t errlen);

/* The C++ compiler it runs: $CXX, else c++. */
const char *sim_build_compiler(void);

#endif
