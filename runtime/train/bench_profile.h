/*
 * bench_profile.h: the report of `gptc bench --profile`: where a training
 * step's device time goes, by kernel family and by step of the plan, from
 * the per-step times exec.c measures (each step waited for on its own).
 */
#ifndef GPTC_BENCH_PROFILE_H
#define GPTC_BENCH_PROFILE_H

#include <stdio.h>

#include "compiler/build.h"

/* ms[i]: plan step i's time summed over `runs` steps of T tokens. Prints
 * the families (kernel stem; GEMMs, copies and zeroings by pass) by time,
 * with launches and, for GEMMs, TFLOP/s; then the `top` slowest steps. */
void bench_profile_print(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, int top);

#endif
