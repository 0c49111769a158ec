/*
 * bench_profile.h: the report of `gptc bench --profile`: where a training
 * step's device time goes, by kernel family and by step of the plan, from
 * the per-step times exec.c measures (each step waited for on its own).
 */
#ifndef GPTC_BENCH_PROFILE_H
#define GPTC_BENCH_PROFILE_H

#include <stdio.h>

#include "compiler/build.h"

/* The coarse classes a step's time is reported in, on both sides of the
 * GPU check's comparison: tests/reference/bench_gpu.py --profile sorts
 * PyTorch's kernels into the same names. */
typedef enum {
    CLASS_GEMM, CLASS_ATTN_FWD, CLASS_ATTN_BWD, CLASS_CE, CLASS_ELEMENTWISE, CLASS_COPIES, NCLASSES
} ProfileClass;

extern const char *const profile_class_names[NCLASSES];

/* Per class, per step: time, bytes read and written (from the plan) and
 * FLOPs: the GEMMs' from their shapes; attention's useful ones, from
 * `attn_pairs` (bench_attention_pairs): 4 per visible pair and head
 * dimension forward, 8 backward (dV, dP, dQ, dK; not the recomputed
 * scores). */
typedef struct {
    double ms[NCLASSES], bytes[NCLASSES], flops[NCLASSES];
} ProfileClasses;

void bench_profile_classes(const ModelBuild *b, const double *ms, int runs, int T, double attn_pairs,
                           ProfileClasses *out);

/* Visible (query, key) pairs times heads times head_dim, summed over the
 * attention layers, for the tokens ids[T] at `step`'s windows (the
 * document-causal block-window rule). */
double bench_attention_pairs(const ModelSpec *s, const int *ids, int T, int step);

/* ms[i]: plan step i's time summed over `runs` steps of T tokens. Prints
 * the classes (GEMMs in TFLOP/s, the rest in GB/s of the bytes the plan
 * moves), the families (kernel stem; GEMMs, copies and zeroings by pass)
 * by time, with launches and, for GEMMs, TFLOP/s; then the `top` slowest
 * steps. */
void bench_profile_print(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, double attn_pairs,
                         int top);

#endif
