/*
 * tune_bench.h: gptc tune's work on an executor (sim, or a GPU): the
 * correctness gate's steps and the timing, on one executor for every
 * variant, so that neither pays a compile and an allocation per variant.
 *
 * The bench opens the rules' build with the kernels of every variant still
 * in the running added (ModelBuild.extra_cu: one program per group of
 * variants, compiled in parallel on a GPU), then runs a set of choices by
 * switching the executor to that set's build (Backend.use_build): the same
 * buffers, other kernels and launch shapes.
 *
 *   gate   one training step under a set of choices from the gate's start
 *          (tune_gate.h: random weights, seed 1234, a zero optimizer state,
 *          the gate's tokens), for gate_compare against the rules' step.
 *   time   rounds; in each, every candidate index k (each instance at its
 *          k-th variant: the instances' kernels are independent, so one
 *          step times a variant of each) runs one training step with each
 *          launch timed alone (Gpu.set_timing: CUDA events, and on a GPU a
 *          wipe of twice the L2 cache before each launch), at the early
 *          windows (step 0) and at the final ones (the last step). An
 *          instance's time in a step is the sum of its launches; launches
 *          that do the same work (exec_step_class: one kernel and its
 *          scalar arguments, or one GEMM shape, on other layers' buffers)
 *          are timed once and counted as many times as the step runs
 *          them, and a kernel that several candidate indices run (the
 *          rules' attention kernels, or another variant's, where a variant
 *          keeps that kernel's knobs: the same name is the same code) is
 *          launched once a pass, by the first, its time counted for each.
 *          After a
 *          warm-up (every build once, then more until warmup_s), the rounds
 *          go on to `rounds` or the budget; a variant's time is its median
 *          over the rounds at each window, weighted by the share of the
 *          schedule's steps at the final windows; then tune_choose picks.
 *   ab     whole steps (forward, backward, optimizer), rules and choices
 *          alternately, each timed by the host's clock with the device
 *          waited for: the median of each.
 */
#ifndef GPTC_TUNE_BENCH_H
#define GPTC_TUNE_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/build.h"
#include "compiler/tune/db.h"
#include "compiler/tune/search.h"
#include "runtime/device/gpu.h"
#include "runtime/device/tune_gate.h"

/* What tuning on executor `backend` measures on, as the tuning database's
 * validators (db.h), and so what a run there checks a database against:
 *   sim's cost model   gptc's version; device "sim cost model"
 *   sim, timed         gptc's version; device "sim (host clock)" and the
 *                      host's processor
 *   cuda               gptc's version; the GPU's name, compute capability,
 *                      SMs, L2 size, SM and memory clocks, the driver's,
 *                      NVRTC's and cuBLASLt's versions (the first visible
 *                      GPU: a run's ranks each see theirs)
 * Returns how many, or -1 with err (cuda without a GPU). */
int tune_validators(const char *backend, bool cost_model, TuneValidator *out, int max, char *err, size_t errlen);

/* A GEMM algorithm as the device takes it (gpu.h) and as the database
 * keeps it (space.h, set 2: by its fields). */
GpuGemmAlgo tune_gpu_algo(const TuneAlgo *t);
TuneAlgo tune_algo_of(const GpuGemmAlgo *a);

typedef struct TuneBench TuneBench;

/* A bench for ins[0..n) (instances of `rules`, after pruning: the TUNE_OK
 * variants are the ones it carries) on executor `backend` ("sim" or
 * "cuda"), for steps of up to max_T tokens. NULL with the reason in err. */
TuneBench *tune_bench_open(const ModelBuild *rules, const TuneInstance *ins, int n, const char *backend, int max_T,
                           char *err, size_t errlen);
void tune_bench_close(TuneBench *tb);

/* The device, for the database's validators: "sim", or the GPU's. */
const char *tune_bench_backend(const TuneBench *tb);

/* The device the bench runs on (the tests plant faults in its calls). */
Gpu *tune_bench_gpu(TuneBench *tb);

/* Appends to ins (holding *n instances, room for cap; the array the bench
 * was opened with) one instance per GEMM shape of the plan at T tokens and
 * of the optimizer's Newton-Schulz products (Backend.ns_gemm) with more
 * than one algorithm on the device: candidate 0 the device's default, then
 * its other algorithms (Gpu.gemm_algos), each marked as reordering sums.
 * Returns how many, or -1 with err. From then on the bench's gate steps
 * and timing take them too: a GEMM's time is its plan steps' and its
 * products' in the optimizer's step (timed GEMMs are named by their key). */
int tune_bench_gemms(TuneBench *tb, TuneInstance *ins, int *n, int cap, int T, char *err, size_t errlen);

/* The gate of the GEMM instances among ins[0..n) (added by
 * tune_bench_gemms at T tokens): after a step of the rules at T, the plan
 * is replayed up to the first step of each shape, in order, so that the
 * step runs over its real operands, under the default algorithm and under
 * each TUNE_OK variant; a shape only Newton-Schulz runs, over a product's
 * operands made from the step's gradients. Each output is compared with the
 * default's within GATE_GEMM_*_REL; a variant outside is marked TUNE_WRONG
 * with why. The whole-step gate cannot judge a GEMM: it runs at fewer
 * tokens than the shape's, and Muon's orthogonalisation magnifies any
 * reordered gradient bit. False with err when a step fails. */
bool tune_bench_gemm_gate(TuneBench *tb, TuneInstance *ins, int n, int T, char *err, size_t errlen);

/* One gate step of T tokens under pick (pick[i]: ins[i]'s variant, 0 the
 * rule; NULL: every rule). */
bool tune_bench_gate_step(TuneBench *tb, const int *pick, int T, GateStep *out, char *err, size_t errlen);

typedef struct {
    int rounds;       /* at most TUNE_MAX_ROUNDS */
    double warmup_s;  /* at least */
    double budget_s;  /* <= 0: none; checked between rounds */
    double margin;    /* tune_choose's */
    int T;            /* tokens per timed step */
} TuneBenchTiming;

/* Times every TUNE_OK variant of ins (the bench's, updated in place:
 * median_us and chosen). Returns the rounds done (0 when the budget
 * allowed none: every variant is then TUNE_UNTIMED and the rules stay),
 * or -1 with err. */
int tune_bench_time(TuneBench *tb, TuneInstance *ins, const TuneBenchTiming *cfg, char *err, size_t errlen);

/* Whole steps of T tokens, rules and the instances' chosen variants
 * alternately, `rounds` of each: their medians in ms. */
bool tune_bench_ab(TuneBench *tb, const TuneInstance *ins, int rounds, int T, double *rules_ms, double *tuned_ms,
                   char *err, size_t errlen);

#endif
