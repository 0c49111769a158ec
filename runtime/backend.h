/*
 * backend.h: what the trainer needs from an executor: parameters and
 * gradients in one fp32 buffer each (params_list order), initialisation,
 * and a forward and backward pass over one rank's slice. The trainer loop,
 * optimizers, logs and checkpoints are the same for every executor; `ref`
 * is the first, `sim` and `cuda` plug in here (docs/design.md,
 * 'Executors').
 */
#ifndef GPTC_BACKEND_H
#define GPTC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "build.h"
#include "ckpt.h"
#include "coll.h"
#include "lower.h"
#include "params.h"
#include "spec.h"

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
    /* The device executors (sim, cuda) keep parameters, gradients and the
     * optimizer on the device; NULL for ref. params() and grads() are then
     * host copies fetched on demand: after writing into params() (a
     * checkpoint load, a host optimizer step) the trainer calls
     * params_changed, and grads_changed after writing into grads() (the
     * average over ranks). device_step runs the optimizer on the device;
     * device_state / device_set_state give and take its state as
     * optim_state's arrays. Each returns 0, or -1 with the reason in
     * error(). */
    void (*params_changed)(void *impl);
    void (*grads_changed)(void *impl);
    int (*device_step)(void *impl, int step);
    int (*device_state)(void *impl, CkptArray *out, int max);
    int (*device_set_state)(void *impl, const CkptArray *in, int n);
    const char *(*error)(void *impl);
    /* Waits for the device's queued work (timing); the device memory in
     * use now and at its peak since open, in bytes (0 where not known). */
    int (*sync)(void *impl);
    void (*memory)(void *impl, size_t *now, size_t *peak);
    /* Several ranks, one slice of the batch each: from now on backward
     * leaves every rank with the gradients averaged over coll's ranks
     * (computed on the device, while the backward pass goes on), and
     * device_step shares Muon's work among the ranks. NULL where the
     * executor cannot (the trainer then averages on the host); 0, or -1
     * with the reason in error(). */
    int (*join_ranks)(void *impl, Coll *coll, double timeout_s);
    /* Timing of each step of the plan (gptc bench --profile, exec.h):
     * set_profile turns it on (zeroing the sums) or off; profile gives the
     * build and the ms of each of its plan's steps summed since. NULL for
     * ref. */
    int (*set_profile)(void *impl, bool on);
    void (*profile)(void *impl, const ModelBuild **build, const double **ms);
    /* What the run record says about the device (manifest.h): JSON
     * members, each written as `, "key": value`. NULL where there is no
     * device to describe (ref). */
    void (*describe)(void *impl, FILE *json);
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
