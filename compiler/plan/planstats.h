/*
 * planstats.h: what a plan costs per step at T tokens, against the same
 * step unfused (one launch per elementary op, every intermediate stored
 * and read back): launches and bytes moved. `gptc compile --plan-stats`
 * prints them.
 */
#ifndef GPTC_PLANSTATS_H
#define GPTC_PLANSTATS_H

#include <stdint.h>

#include "compiler/plan/lower.h"

typedef struct {
    int64_t launches, bytes;                 /* fused: the plan as it runs */
    int64_t unfused_launches, unfused_bytes; /* one launch per op, all stored */
} PlanStats;

/* Needs the plan's op graph (a plan lowered in this process). */
void plan_stats(const Plan *p, int64_t T, PlanStats *out);

/* The bytes one step of the plan reads and writes at T tokens: what its ops
 * take from outside it and what it stores (not its internal values). */
int64_t plan_step_bytes(const Plan *p, const PlanStep *st, int64_t T);

/* The fused plan's traffic by what runs: each kernel by its symbol, the
 * GEMMs, copies and zeroings by pass. */
typedef struct {
    char name[72];
    int64_t launches, bytes;
} PlanKernelBytes;

/* Up to max entries, the most bytes first; returns how many there are
 * (those past max are left out). */
int plan_bytes_by_kernel(const Plan *p, int64_t T, PlanKernelBytes *out, int max);

#endif
