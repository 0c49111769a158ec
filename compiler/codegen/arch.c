/*
 * arch.c: the architecture table and the occupancy estimate (formula and
 * sources in arch.h).
 */
#include "compiler/codegen/arch.h"

#include <string.h>

#define KB 1024

static const ArchLimits archs[] = {
    {"sm_80", 65536, 64, 32, 164 * KB, 163 * KB},
    {"sm_86", 65536, 48, 16, 100 * KB, 99 * KB},
    {"sm_89", 65536, 48, 24, 100 * KB, 99 * KB},
    {"sm_90", 65536, 64, 32, 228 * KB, 227 * KB},
    {"sm_90a", 65536, 64, 32, 228 * KB, 227 * KB},
};
#define NARCHS ((int)(sizeof archs / sizeof archs[0]))

const ArchLimits *arch_find(const char *name) {
    for (int i = 0; i < NARCHS; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    return NULL;
}

const char *arch_known_list(void) { return "sm_80, sm_86, sm_89, sm_90, sm_90a"; }

static int ceil_div(int a, int b) { return (a + b - 1) / b; }
static int min2(int a, int b) { return a < b ? a : b; }

enum { WARP = 32, REG_UNIT = 256, MAX_REGS = 255, SMEM_RESERVED = 1 * KB, SMEM_UNIT = 128 };

Occupancy arch_occupancy(const ArchLimits *a, int threads, int regs, int smem_bytes) {
    Occupancy o = {0, 0.0};
    if (threads < 1 || regs > MAX_REGS || smem_bytes > a->smem_per_block) return o;
    int warps = ceil_div(threads, WARP);
    int regs_per_warp = ceil_div((regs > 0 ? regs : 1) * WARP, REG_UNIT) * REG_UNIT;
    int by_threads = a->max_warps_per_sm / warps;
    int by_regs = a->regs_per_sm / regs_per_warp / warps;
    int by_smem = a->smem_per_sm / (ceil_div(smem_bytes + SMEM_RESERVED, SMEM_UNIT) * SMEM_UNIT);
    o.blocks_per_sm = min2(min2(by_threads, by_regs), min2(by_smem, a->max_blocks_per_sm));
    o.occupancy = (double)(o.blocks_per_sm * warps) / a->max_warps_per_sm;
    return o;
}
