/*
 * arch.h: the GPU architectures gptc compiles for, their per-SM limits, and
 * the occupancy a kernel's resources allow on them.
 *
 * Occupancy is estimated the way CUDA's occupancy calculator does it, from
 * what ptxas reports, for a block of `threads` threads:
 *
 *   warps      = ceil(threads / 32)
 *   by_threads = floor(max_warps_per_sm / warps)
 *   by_regs    = floor(floor(regs_per_sm / (ceil(regs * 32 / 256) * 256)) / warps)
 *                registers are allocated per warp in units of 256; 0 registers
 *                (never reported) counts as 1 unit
 *   by_smem    = floor(smem_per_sm / ceil_128(smem + dyn_smem + 1024))
 *                each block also holds 1 KB that the system reserves
 *   blocks     = min(by_threads, by_regs, by_smem, max_blocks_per_sm)
 *   occupancy  = blocks * warps / max_warps_per_sm
 *
 * A kernel needing more registers than 255 per thread or more shared memory
 * than one block may have gets 0 blocks. Limits (CUDA C Programming Guide,
 * "Compute capabilities" table): 64K 32-bit registers per SM on every arch
 * here; sm_80 2048 threads, 32 blocks, 164 KB smem per SM (163 KB per
 * block); sm_86 1536, 16, 100 KB (99 KB); sm_89 1536, 24, 100 KB (99 KB);
 * sm_90 and sm_90a 2048, 32, 228 KB (227 KB). The smem figures assume the
 * largest carve-out, which the runtime requests for kernels that need it.
 */
#ifndef GPTC_ARCH_H
#define GPTC_ARCH_H

#include <stdbool.h>

typedef struct {
    const char *name; /* NVRTC's --gpu-architecture value, e.g. "sm_90a" */
    int regs_per_sm;
    int max_warps_per_sm;
    int max_blocks_per_sm;
    int smem_per_sm;     /* bytes */
    int smem_per_block;  /* bytes a block may use, the reserved 1 KB excluded */
} ArchLimits;

/* The limits of `name`, or NULL for an architecture gptc does not know. */
const ArchLimits *arch_find(const char *name);

/* "sm_80, sm_86, ...": the known names, for messages. */
const char *arch_known_list(void);

typedef struct {
    int blocks_per_sm;
    double occupancy; /* resident warps / max warps, 0 .. 1 */
} Occupancy;

Occupancy arch_occupancy(const ArchLimits *a, int threads, int regs, int smem_bytes);

#endif
