/*
 * exec.h: runs a training step's plan (compiler/plan/lower.h, packed by
 * arena.h) over a Gpu (runtime/device/gpu.h): the executor of `sim` and `cuda`.
 *
 * The plan is the model build's (compiler/build.h), made in memory by
 * model_build or linked in as generated/NAME/build.c. exec_new allocates one arena for the
 * activations at max_T, the token arrays, the parameters in the device
 * executors' layout (docs/design.md, 'Numerics and determinism': Muon
 * tensors as a bf16 `hi` plane and a uint16 `lo` plane whose
 * (hi << 16) | lo is the fp32 master; Adam tensors as the fp32 master; the
 * head, or x00's table when tied, also as a bf16 copy) and the fp32
 * gradients in params_list order.
 *
 * Per step: exec_forward uploads ids, targets, doc_start (each token's
 * document start), the embedding segments (token_segments) and runs the
 * forward steps, returning the mean loss; exec_backward zeroes the
 * gradients and runs the backward steps. Every call returns 0, or -1 with
 * the reason in exec_error().
 */
#ifndef GPTC_EXEC_H
#define GPTC_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/build.h"
#include "runtime/dist/devcomm.h"
#include "runtime/device/gpu.h"
#include "compiler/plan/lower.h"
#include "runtime/device/optim_gpu.h"

typedef struct Exec Exec;

/* An executor of build b's plan for steps of up to max_T tokens; NULL with
 * the reason in err (a build without a plan, no memory). b must outlive it. */
Exec *exec_new(const ModelBuild *b, Gpu *g, int max_T, char *err, size_t errlen);
void exec_free(Exec *e);
const char *exec_error(const Exec *e);
const Plan *exec_plan(const Exec *e);

/* Parameters as one host fp32 array in params_list order. Upload also
 * refreshes the bf16 copy of the head (round to nearest even). */
int exec_upload_params(Exec *e, const float *host);
int exec_download_params(Exec *e, float *host);
int exec_download_grads(Exec *e, float *host);
int exec_upload_grads(Exec *e, const float *host);
size_t exec_num_params(const Exec *e);

/* Device pointers: a tensor's plane (NULL when it has none), and the
 * gradients (fp32, params_list order, each tensor starting on a 16-byte
 * boundary: exec_grad_offsets gives where, in floats). exec_gpu_params
 * views the parameters as runtime/device/optim_gpu.h's GpuParams, so the device
 * optimizer updates them in place. */
void *exec_param(Exec *e, int tensor, ParamPlane plane);
float *exec_grads(Exec *e);
void exec_grad_offsets(const Exec *e, size_t *offsets);
void exec_gpu_params(Exec *e, GpuParams *out);

/* Several ranks: exec_backward then leaves every rank with `scale` times
 * the sum over the ranks of the gradients, each tensor's sum started as
 * soon as the backward pass has completed it (on cuda, beside the rest of
 * the backward pass). NULL: one rank. */
void exec_set_comm(Exec *e, DevComm *comm, float scale);

/* Profiling (gptc bench --profile): when on, each step of the plan waits
 * for the device before and after it and adds its time to its entry of
 * exec_profile (ms, one per plan step, summed over the runs since it was
 * turned on; NULL when off). Slower, so for finding where a step's time
 * goes, not for timing it. */
int exec_set_profile(Exec *e, bool on);
const double *exec_profile(const Exec *e);

/* From now on, run build nb's plan instead: a variant of the build the
 * executor was made for (gptc tune: other kernels and launch shapes over
 * the same buffers), whose kernels the Gpu has. -1 with the reason when nb
 * lays out its buffers or gradients otherwise. nb must outlive e. */
int exec_use_build(Exec *e, const ModelBuild *nb);

/* The GEMM plan step `step` runs at the current T (pointers included). */
int exec_gemm(Exec *e, int step, GpuGemm *out);

/* The work plan step `step` does at the current T and schedule step, as a
 * text that two steps share when they do the same work on other buffers:
 * the kernel and its scalar arguments (windows resolved; which pointers are
 * NULL), or the GEMM's shape. 0, or -1 with the reason in exec_error. */
int exec_step_class(Exec *e, int step, char *out, size_t cap);

int exec_forward(Exec *e, const int *ids, const int *targets, int T, int step, bool validation, double *loss);
int exec_backward(Exec *e);

/* After a forward pass: the RMS of x where it enters each layer's mix
 * [layers] and of each input table after its norm [tables] (the plan's
 * xs_buf and x0_buf), over its T tokens. 0, or -1 with the reason. */
int exec_norms(Exec *e, double *x_rms, double *x0_rms);

/* The pieces of a step, for tests and partial plans: set T and upload the
 * step's inputs; run steps [from, to); zero the gradients; the device
 * pointer of a buffer (by its plan name) at the current T. */
int exec_prepare(Exec *e, const int *ids, const int *targets, int T, int step, bool validation);
int exec_run(Exec *e, int from, int to);
int exec_zero_grads(Exec *e);
void *exec_buffer(Exec *e, const char *name);

#endif
