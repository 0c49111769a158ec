/*
 * tune_gate.h: the tuner's correctness gate. A variant is timed only after
 * a training step under it matches the same step under the rules: the same
 * initial weights (seed 1234, every one random: the recipe's zero head and
 * projections would hide most kernels from a first step), the same tokens, one forward, backward and
 * optimizer step on an executor (sim, or a GPU), then the loss, every
 * gradient and every parameter compared (on the tuner's bench, a round
 * that runs no variant of an optimizer kernel stops after the backward
 * pass: see GateStep).
 *
 * Knobs that keep the order of every sum (space.h) must give the rules'
 * bits exactly (the loss, every gradient and every parameter). Knobs that
 * reorder a sum may move the last bits of a gradient, which the bf16
 * activations then carry: they must keep the loss within GATE_LOSS_REL
 * and the gradients within GATE_GRADS_REL (relative L2 over all of them),
 * where a wrong kernel (a dropped term, a wrong sign, a missed rescale)
 * moves them by percents; a non-finite loss fails too (on the bench it
 * is the variant's result, not an error, unless the executor failed).
 * The gradients, not the parameters after the step: the first optimizer
 * step turns any gradient's sign into a step of
 * the learning rate (Adam's m / sqrt(v) is +-1 at step 1) and Muon's
 * orthogonalisation spreads a change over the whole matrix, so the
 * last-bit changes of a reordered product (attention on warpgroups on
 * sim: 5e-3 of the parameters' norm) would look like a wrong kernel.
 */
#ifndef GPTC_TUNE_GATE_H
#define GPTC_TUNE_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/build.h"

#define GATE_LOSS_REL 1e-5
#define GATE_GRADS_REL 1e-3
/* A GEMM's algorithm is gated on its own output instead (tune_bench.h),
 * against the default algorithm's over the same operands, relative L2: an
 * fp32 output within a few roundings of fp32's, a bf16 one within one
 * rounding of bf16's (2^-8) wherever it falls. */
#define GATE_GEMM_F32_REL 1e-5
#define GATE_GEMM_BF16_REL 4e-3

/* A step to compare. A gate round whose variants include no kernel the
 * optimizer runs stops after the backward pass (tune_bench.h): with the
 * optimizer at its rules, the parameters after a step are a deterministic
 * function of the gradients, so comparing them adds nothing; params is
 * then NULL, and grads may be the executor's own host copy (borrowed,
 * valid until its next pass, not freed). */
typedef struct {
    double loss;
    float *grads;  /* after the backward pass */
    float *params; /* after the optimizer's step; NULL: no step */
    size_t n;
    bool borrowed; /* grads is not this step's to free */
} GateStep;

/* The gate's tokens: random ids (seed 4321) with an end of text every 97,
 * so that documents and their boundaries in the attention are exercised;
 * ids and tgt hold T each. */
void gate_tokens(const ModelSpec *s, int T, int *ids, int *tgt);

/* The gate's start: the recipe starts the head and the output projections
 * at zero, so that a first step's gradient reaches the head alone and most
 * kernels could not change the result; the gate starts every weight at
 * random instead (seed 1234). */
void gate_start_spec(ModelSpec *s);

/* One step of build b on executor `backend` over T tokens (a multiple of
 * the window block, at most the build's tokens per rank). */
bool gate_step(const ModelBuild *b, const char *backend, int T, GateStep *out, char *err, size_t errlen);
void gate_step_free(GateStep *s);

/* A malloc'd copy of n floats at p; NULL when p is NULL or memory is out. */
float *gate_copy(const float *p, size_t n);

/* Whether `got` passes against the rules' `want`: bit for bit (the loss,
 * the gradients, and the parameters where both have them), or within the
 * tolerances when `reorders`. False with why (the measured errors). */
bool gate_compare(const GateStep *want, const GateStep *got, bool reorders, char *why, size_t cap);

#endif
