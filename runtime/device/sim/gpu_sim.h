/*
 * gpu_sim.h: opens the `sim` device (runtime/device/gpu.h) over a set of kernels
 * compiled for the CPU: `handle` is a dlopen handle of a shared object
 * built from a model's kernels_sim.cc and runtime/device/sim/cuda_emu.cc, or NULL
 * for kernels linked into the executable itself. Launch options (random
 * order, poisoned smem, late cp.async copies) come from GPTC_SIM_SEED,
 * GPTC_SIM_POISON and GPTC_SIM_LATE_ASYNC.
 * Returns 0, or -1 with the reason in g->err.
 */
#ifndef GPTC_GPU_SIM_H
#define GPTC_GPU_SIM_H

#include "runtime/device/gpu.h"

int gpu_sim_open(Gpu *g, void *handle);

#endif
