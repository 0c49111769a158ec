/*
 * optim_gpu.h: the optimizer step of the GPU executors, on the device,
 * through runtime/device/gpu.h only (so the same code drives `sim` and `cuda`):
 * the recipe's Adam and Muon (docs/recipe.md, 'Adam' and 'Muon') as
 * runtime/ref/optim.c computes them, with which it shares every coefficient
 * (optim_adam_coefs, optim_muon_coefs) and its checkpoint state.
 *
 * Per step and tensor, in params_list order:
 *   Adam  the adam kernel on the fp32 master and moments; the head's bf16
 *         copy is then refreshed (cast_bf16).
 *   Muon  muon_momentum (buf, the Nesterov form as bf16 X, the norms'
 *         partials), colsum (the sums of squares), muon_normalize; then per
 *         Newton-Schulz iteration A = X X^T (bf16 out), T = A A (fp32),
 *         B = bf16(b A + c T), T = B X (fp32), X = bf16(a X + T), every
 *         product a batched bf16 GEMM with fp32 accumulation over the
 *         tensor's matrices (Q, K, V, O: a batch of four); a tall matrix
 *         (rows > cols) works on its transpose through the GEMMs' trans
 *         flags, as optim.c transposes it; finally muon_update on the
 *         master's two planes.
 * Differences from optim.c: only Newton-Schulz's precision (the recipe's
 * bf16 instead of fp32), and the norm, which is that of the bf16 X (fp32
 * sums in a fixed order) rather than of fp32 u (double sums). Everything
 * else is bit for bit.
 *
 * Device memory (docs/design.md, 'Numerics and determinism'): Muon masters
 * as planes hi (bf16, what the GEMMs read) and lo (uint16), (hi << 16) | lo
 * being the fp32 master; Adam masters fp32, the head with a bf16 copy.
 * Gradients: fp32 in one buffer, tensor i at offsets[i], each offset a
 * multiple of 4 floats (optim_gpu_layout gives such a layout), as every
 * kernel pointer is 16-byte aligned.
 *
 * Every call returns 0 (or a pointer) on success, -1 (or NULL) with the
 * reason in g->err.
 */
#ifndef GPTC_OPTIM_GPU_H
#define GPTC_OPTIM_GPU_H

#include <stddef.h>

#include "compiler/build.h"
#include "runtime/train/ckpt.h"
#include "runtime/dist/devcomm.h"
#include "runtime/device/gpu.h"
#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"

typedef struct {
    void *hi;      /* Muon: bf16 [numel], the compute weight; else NULL */
    void *lo;      /* Muon: uint16 [numel], the master's low 16 bits; else NULL */
    float *master; /* Adam: fp32 [numel]; else NULL */
    void *bf16;    /* the head: its bf16 copy [numel]; else NULL */
} GpuParamTensor;

typedef struct {
    int n;
    GpuParamTensor t[PARAMS_MAX];
    void *block; /* the one device allocation that holds them all */
} GpuParams;

/* The device storage of the n tensors of meta (zeroed). */
int gpu_params_new(Gpu *g, const ParamTensor *meta, int n, GpuParams *out);
void gpu_params_free(Gpu *g, GpuParams *p);

/* From / to a host fp32 buffer in params_list order, tensors back to back
 * (the Backend interface's params()). Exact both ways: a Muon master is
 * split into its planes and rebuilt bit for bit; the head's bf16 copy is
 * its master rounded to nearest even (as cast_bf16). */
int gpu_params_upload(Gpu *g, GpuParams *p, const ParamTensor *meta, const float *host);
int gpu_params_download(Gpu *g, const GpuParams *p, const ParamTensor *meta, float *host);

/* A gradient layout for the device: tensor i at offsets[i], each a
 * multiple of 4 floats. Returns the total in floats. */
size_t optim_gpu_layout(const ParamTensor *meta, int n, size_t *offsets);

typedef struct OptimGpu OptimGpu;

/* The optimizer of build b (its optimizer plan, compiler/build.h), whose
 * kernels are loaded in g; the gradients optim_gpu_step receives lie at the
 * build's grad_off. b must outlive it. */
OptimGpu *optim_gpu_new(Gpu *g, const ModelBuild *b);

/* From now on, launch build nb's kernels (a variant of b with the same
 * optimizer plan and state: exec_use_build's); -1 when its plan differs. */
int optim_gpu_use_build(OptimGpu *o, const ModelBuild *nb);
void optim_gpu_free(OptimGpu *o);

/* Several ranks (NULL or a size of 1: one): each updates its share of the
 * Muon tensors (Newton-Schulz is most of the optimizer's work), every rank
 * advances every momentum, and optim_gpu_step ends with each tensor's new
 * weights sent from its rank to all. The same gradients on every rank give
 * the parameters of a single rank, bit for bit. */
void optim_gpu_set_comm(OptimGpu *o, DevComm *comm);

/* One update of p from grads (device) at training step `step` (0-based). */
int optim_gpu_step(OptimGpu *o, GpuParams *p, const float *grads, int step);

/* Muon's direction for Muon tensor i at `step`: the momentum update (the
 * state advances) and Newton-Schulz; *x is then a device bf16 array of the
 * tensor's shape, valid until the next call. optim_gpu_step applies it;
 * exposed for the tests. */
int optim_gpu_direction(OptimGpu *o, int i, const float *grads, int step, const void **x);

/* Product j (0: A = X X^T, 1: T = A A, 2: T = B X) of a Newton-Schulz
 * iteration of Muon tensor i, over the optimizer's buffers, for gptc tune
 * (its algorithms are tuned like the step's GEMMs): 0, or 1 when tensor i
 * is not Muon's or j is not 0..2. With grads (device) it also makes the
 * product's operands what step `step` gives them: the momentum update
 * (the state advances), the normalisation and the first iteration up to
 * the product; -1 on failure. */
int optim_gpu_ns_gemm(OptimGpu *o, int i, int j, const float *grads, int step, GpuGemm *out);

/* The state, as optim_state names and lays it out ("adam_m", "adam_v",
 * "muon_momentum": each the tensors' values back to back in params_list
 * order), so that checkpoints are interchangeable with ref: copied to host
 * arrays the optimizer owns (valid until the next call). Returns how many
 * arrays it filled (at most max), or -1. */
int optim_gpu_state(OptimGpu *o, CkptArray *out, int max);

/* Loads the state from arrays named and sized as optim_gpu_state's. */
int optim_gpu_set_state(OptimGpu *o, const CkptArray *in, int n);

#endif
