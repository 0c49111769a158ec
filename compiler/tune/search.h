/*
 * search.h: choosing one variant per kernel instance from timings.
 *
 * The variants that survive pruning and the correctness gate are timed
 * round by round, interleaved (every candidate once per round, so that a
 * drift of the machine's clocks or load falls on all of them alike); each
 * candidate's time is the median of its rounds. The fastest wins only if
 * it beats candidate 0, the rule, by more than the margin, so that noise
 * cannot flip a choice between two tuning runs; a tie goes to the lower
 * index. After a few rounds the clear losers stop being timed
 * (tune_cut_slow), so that most of the time goes to the contenders. The
 * budget is checked between instances: those not reached keep the rule,
 * and say so.
 *
 * The timer is a function, so that the search is the same on a GPU (CUDA
 * events), on sim's cost model and in tests (a fake).
 */
#ifndef GPTC_TUNE_SEARCH_H
#define GPTC_TUNE_SEARCH_H

#include <stdbool.h>

#include "compiler/tune/space.h"

#define TUNE_MAX_ROUNDS 64
/* Kernels, then GEMM shapes: the step's and Newton-Schulz's (tiny: 9
 * kernels and 22 GEMM shapes). */
#define TUNE_MAX_INSTANCES (4 * EMIT_MAX_INSTANCES)
/* After TUNE_CUT_ROUNDS rounds, a variant whose median is more than
 * TUNE_CUT_SLOWER times the fastest one's is timed no more (TUNE_SLOW): no
 * noise a GPU has makes such a variant win, and most of attention's
 * variants are such. */
#define TUNE_CUT_ROUNDS 5
#define TUNE_CUT_SLOWER 1.25
/* The whole-step A/B's rounds at most: each is two steps per window, and
 * the step varies by well under the 2% margin between its rounds. */
#define TUNE_AB_ROUNDS 7

typedef enum { TUNE_OK, TUNE_PRUNED, TUNE_WRONG, TUNE_UNTIMED, TUNE_SLOW } TuneStatus;

typedef struct {
    TuneKnobs knobs;
    bool reorders;
    TuneStatus status;
    char why[128];    /* why pruned or wrong */
    double median_us; /* < 0 until timed */
} TuneVariant;

/* One tuned instance of the kernel set, or one GEMM shape (inst -1), and
 * its variants (v[0]: the rule). family and shape name it in the database
 * (a kernel's: its family and the rule's suffix; a GEMM's: TUNE_GEMM and
 * gpu_gemm_key's text). */
typedef struct {
    int inst;
    char family[32], shape[48];
    int n;
    TuneVariant v[TUNE_MAX_CANDIDATES];
    int chosen;       /* index into v */
} TuneInstance;

typedef struct {
    /* One timing of instance `inst` at knobs k, in microseconds. */
    double (*time_us)(void *ctx, int inst, TuneKnobs k);
    /* Seconds spent so far, for the budget. */
    double (*elapsed_s)(void *ctx);
    void *ctx;
} TuneTimer;

typedef struct {
    int rounds;      /* timings per candidate, 1..TUNE_MAX_ROUNDS */
    double margin;   /* e.g. 0.02: the winner's median below (1 - margin) x the rule's */
    double budget_s; /* <= 0: none */
} TuneSearch;

/* The instance's candidates (tune_candidates) as variants, all TUNE_OK. */
void tune_instance_init(TuneInstance *ti, int inst, const EmitInstance *in);

/* Times and chooses, instance by instance; returns how many were timed
 * before the budget ran out (the rest keep v[0], marked TUNE_UNTIMED). */
int tune_search(TuneInstance *ins, int n, const TuneTimer *t, const TuneSearch *cfg);

/* Marks TUNE_SLOW every TUNE_OK variant of ti but the rule whose median_us
 * is more than TUNE_CUT_SLOWER times the fastest TUNE_OK one's; returns
 * how many stay TUNE_OK. */
int tune_cut_slow(TuneInstance *ti);

/* The fastest TUNE_OK variant of ti by median_us, the lowest index on a
 * tie; the rule (0) unless it beats the rule's median by more than the
 * margin, or when the rule itself was not timed. */
int tune_choose(const TuneInstance *ti, double margin);

/* The median of n values (n >= 1); reorders the array. */
double tune_median(double *v, int n);

#endif
