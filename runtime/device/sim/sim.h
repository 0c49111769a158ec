/*
 * sim.h: the C side of the `sim` executor's kernels. Generated kernels are
 * compiled for the CPU with the system C++ compiler and runtime/device/sim/cuda_emu.h;
 * each kernel NAME is then reachable from C as
 *
 *     int gptc_sim_NAME(const GptcSimLaunch *launch, void **args);
 *
 * where args[i] points at the value of the kernel's i-th parameter, exactly
 * as cuLaunchKernel's kernelParams. A call runs the whole grid before it
 * returns: the threads of a block as fibers on the calling OS thread, the
 * blocks one after another. It returns GPTC_SIM_OK, or an error code with
 * the reason in gptc_sim_last_error(); the process is never aborted, so the
 * caller decides what a failed launch means. Launches from several OS
 * threads are serialised (static shared memory is one per process).
 *
 * This header is C11 and C++; nothing in it needs the emulation header.
 */
#ifndef GPTC_SIM_H
#define GPTC_SIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct GptcSimDim3 {
    unsigned x, y, z;
} GptcSimDim3;

/* How a launch is scheduled. All zero is the plain, fastest mode. */
typedef struct GptcSimOptions {
    /* 0: threads run in order and blocks in order. Otherwise the next
     * thread at every scheduling point (barrier, warp collective, thread
     * exit) and the order of the blocks are drawn from this seed, so a
     * kernel that relies on an order gives different results per seed,
     * and the same seed gives the same run. */
    uint64_t order_seed;
    /* Nonzero: every byte of shared memory (static and dynamic) is set to
     * 0xFF at each block start, so reading smem nobody wrote gives NaN.
     * Zero: dynamic smem starts zeroed at each launch, and static smem
     * holds what the previous block left, as on a GPU. */
    int poison_smem;
    /* Nonzero: asynchronous work completes as late as a GPU may complete
     * it. A cp.async copy (prims.cuh's cp_async_16, cp_async_4) lands only
     * when the thread that issued it waits for its group (cp_async_wait)
     * or ends, so a kernel that reads a tile before waiting for it reads
     * what was there before; a warpgroup product (wgmma_ss, wgmma_rs_tb)
     * runs only at the wg_wait that covers it, with its operands and
     * accumulators as they are then, and a thread that ends with one not
     * waited for fails the launch. Zero: copies land and products run at
     * once (the earliest: a copy into a tile others still read shows). */
    int late_async;
    /* Stack per suspended thread, in KiB; 0 is 64 (256 under ASan). */
    unsigned stack_kib;
} GptcSimOptions;

typedef struct GptcSimLaunch {
    GptcSimDim3 grid, block;
    size_t smem_bytes; /* dynamic shared memory per block */
    GptcSimOptions opt;
} GptcSimLaunch;

enum {
    GPTC_SIM_OK = 0,
    GPTC_SIM_ERR_CONFIG = 1, /* grid, block, smem or options out of range */
    GPTC_SIM_ERR_KERNEL = 2  /* divergent barrier or collective, bad mask... */
};

typedef int (*GptcSimKernelFn)(const GptcSimLaunch *launch, void **args);

/* Fills *opt from GPTC_SIM_SEED (decimal), GPTC_SIM_POISON (0 or 1),
 * GPTC_SIM_LATE_ASYNC (0 or 1) and
 * GPTC_SIM_STACK_KIB; unset variables leave their field alone. Returns 0, or
 * -1 with gptc_sim_last_error() naming the bad variable. */
int gptc_sim_options_from_env(GptcSimOptions *opt);

/* The message of the calling OS thread's last failed call, e.g.
 * "sim: kernel rmsnorm_fwd: __syncthreads at k.cu:40 reached by 31 of 64
 * threads (divergent barrier) at block (3,0,0); thread (0,0,0) exited".
 * Empty when nothing failed yet. */
const char *gptc_sim_last_error(void);

/* Totals since the process started, over all launches. */
typedef struct GptcSimStats {
    uint64_t launches, blocks, threads;
    uint64_t switches; /* fiber context switches */
} GptcSimStats;
void gptc_sim_stats(GptcSimStats *out);

#ifdef __cplusplus
}
#endif

#endif
