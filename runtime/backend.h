/*
 * backend.h: what the trainer needs from an executor: parameters and
 * gradients in one fp32 buffer each (params_list order), initialisation,
 * a forward and backward pass over one rank's slice, and the optimizer
 * step, which each executor owns. The trainer loop, logs and checkpoints
 * are the same for every executor, with no branch on which one it has;
 * `ref` is the first, `sim` and `cuda` plug in here (docs/design.md,
 * 'Executors').
 */
#ifndef GPTC_BACKEND_H
#define GPTC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compiler/build.h"
#include "runtime/train/ckpt.h"
#include "runtime/dist/coll.h"
#include "compiler/plan/lower.h"
#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"
#include "runtime/device/gpu.h"

/* Every function is there for every executor, except the last four, each
 * NULL where it says why. */
typedef struct Backend {
    const char *name;
    void *impl;
    float *(*params)(void *impl);
    float *(*grads)(void *impl);
    size_t (*num_params)(const void *impl);
    int (*tensors)(const void *impl, const ParamTensor **meta, const size_t **offsets);
    void (*init)(void *impl, uint64_t seed);
    double (*forward)(void *impl, const int *inputs, const int *targets, int T, int step,
                      bool validation);
    void (*backward)(void *impl);
    void (*close)(void *impl);
    /* params() and grads() may be host copies of what the executor keeps
     * elsewhere (sim and cuda: on the device, fetched on demand): after
     * writing into params() (a checkpoint load) the caller calls
     * params_changed, and grads_changed after writing into grads() (the
     * average over ranks). No-ops for ref, whose buffers are the model's. */
    void (*params_changed)(void *impl);
    void (*grads_changed)(void *impl);
    /* The optimizer (ref: optim.h on the host; sim and cuda: optim_gpu.h
     * on the device). step updates the parameters from the gradients the
     * executor holds, at training step `step` (0-based). state gives its
     * state to checkpoint as optim_state's arrays ("adam_m", "adam_v",
     * "muon_momentum", the same layout on every executor, so checkpoints
     * move between them), at most max, and returns how many; the caller
     * may fill them (a checkpoint load) and hand them to set_state, which
     * also takes arrays of its own with those names and counts. Each
     * returns -1 with the reason in error() when it fails. */
    int (*step)(void *impl, int step);
    int (*state)(void *impl, CkptArray *out, int max);
    int (*set_state)(void *impl, const CkptArray *in, int n);
    /* Why the executor failed (a launch, a copy, memory, a bad state), or
     * "" while nothing has; a forward that failed returns NaN. */
    const char *(*error)(void *impl);
    /* Waits for the device's queued work (timing; 0, or -1 with the reason
     * in error()); the device memory in use now and at its peak since open,
     * in bytes (0 where not known: ref). */
    int (*sync)(void *impl);
    void (*memory)(void *impl, size_t *now, size_t *peak);
    /* Several ranks, one slice of the batch each: from now on backward
     * leaves every rank with the gradients averaged over coll's ranks
     * (computed on the device, while the backward pass goes on), and step
     * shares Muon's work among the ranks. 0, or -1 with the reason in
     * error(). NULL for ref, which has no device to average on: the
     * trainer then averages on the host. */
    int (*join_ranks)(void *impl, Coll *coll, double timeout_s);
    /* Timing of each step of the plan (gptc bench --profile, exec.h):
     * set_profile turns it on (zeroing the sums) or off; profile gives the
     * build and the ms of each of its plan's steps summed since. NULL for
     * ref, which runs no plan. */
    int (*set_profile)(void *impl, bool on);
    void (*profile)(void *impl, const ModelBuild **build, const double **ms);
    /* What the run record says about the device (manifest.h): JSON
     * members, each written as `, "key": value`. NULL for ref, whose
     * device is the host the run record describes already. */
    void (*describe)(void *impl, FILE *json);
    /* The RMS of x where it enters each layer's mix, and of each input
     * table after its norm, over the last forward's tokens (ref_norms,
     * exec_norms): the metrics' norms. 0, or -1 with the reason in
     * error(). */
    int (*norms)(void *impl, double *x_rms, double *x0_rms);
    /* For gptc tune (NULL for ref, which runs no kernels): use_build runs
     * build nb from now on, a variant of the open build (the same buffers,
     * parameters and optimizer state; other kernels and launch shapes),
     * whose kernels the open build carries (its extra_cu); 0, or -1 with
     * the reason in error(). replay runs steps [from, to) of the plan again,
     * over the last forward pass's tokens and buffers as they are now (the
     * values do not matter, the time does). gpu is the device, for timing
     * each launch (gpu.h's set_timing and timed). */
    int (*use_build)(void *impl, const ModelBuild *nb);
    int (*replay)(void *impl, int from, int to);
    /* The GEMM that plan step `step` runs at the last forward's T. */
    int (*gemm_of)(void *impl, int step, GpuGemm *out);
    /* What plan step `step` does at the last forward's T and schedule step
     * (exec_step_class): steps of one class do the same work. */
    int (*step_class)(void *impl, int step, char *out, size_t cap);
    /* Product j of a Newton-Schulz iteration of Muon tensor i
     * (optim_gpu_ns_gemm); with `ready`, its operands as step `step` makes
     * them from the last backward's gradients. 0, 1 when there is no such
     * product, or -1 with the reason in error(). */
    int (*ns_gemm)(void *impl, int i, int j, bool ready, int step, GpuGemm *out);
    Gpu *(*gpu)(void *impl);
} Backend;

/* Opens executor `name` ("ref", "sim" or "cuda") for the model of build
 * mb (compiler/build.h; ref reads only its spec) and sequences of up to
 * max_T tokens. False with a message for an unknown or unavailable
 * executor. mb must outlive the executor. */
bool backend_open(Backend *b, const char *name, const ModelBuild *mb, int max_T, char *err, size_t errcap);
void backend_close(Backend *b);

/* The executor to open for --backend `requested`: "auto" is cuda when the
 * driver sees a GPU (cuda_device_count() > 0), else ref; "cuda" needs a GPU. Writes the choice and why into note, e.g.
 * "backend: ref (no GPU: libcuda.so.1 not found ...)". NULL with the reason
 * in err when the request cannot be met (--backend cuda without a GPU). */
const char *backend_resolve(const char *requested, char *note, size_t notecap, char *err, size_t errcap);

#endif
