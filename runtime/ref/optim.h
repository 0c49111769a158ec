/*
 * optim.h: the recipe's optimizers on fp32 parameters (docs/recipe.md,
 * 'Muon' and 'Adam'): the ref executor's own (backend.c), and what the
 * device optimizer (optim_gpu.h) is checked against.
 *
 * - Adam (AdamW form, bias-corrected, decoupled decay) for the head, the
 *   input and value tables and the scalars, each group with its own LR.
 * - Muon for the block matrices: EMA momentum with warm-up, the Nesterov
 *   form, Newton-Schulz with per-iteration coefficients (each of Q, K, V and
 *   O orthogonalised on its own), the shape-based LR multiplier and
 *   decoupled weight decay with its multipliers.
 * Every LR follows the schedule's multiplier at the step.
 *
 * Precision: everything here is fp32, including Newton-Schulz and the
 * master weights. The recipe runs Newton-Schulz in bf16 and keeps Muon's
 * master as bf16 plus a 16-bit low half; an fp32 master holds exactly the
 * same bits, and the bf16 rounding of Newton-Schulz is left to the
 * GPU executors, whose kernels are checked against this one with a
 * tolerance. The update is otherwise the recipe's, term by term.
 */
#ifndef GPTC_OPTIM_H
#define GPTC_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ref/adam.h"
#include "runtime/train/ckpt.h"
#include "runtime/ref/muon.h"
#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"

/* What the GPU executors' optimizer (runtime/device/optim_gpu.c) shares with this
 * one, so that both compute every coefficient the same way. */

/* Adam's coefficients for a tensor of group g at `step`, with the LR
 * schedule's multiplier `mult` (spec_lr_mult). */
AdamCoefs optim_adam_coefs(const ModelSpec *s, ParamGroup g, int step, double mult);

/* Muon's per-tensor scalars at `step`: the momentum (with its warm-up),
 * decay = 1 - lr wd wd_mul and lr_eff = lr max(1, rows / cols)^1/2, lr
 * with the schedule's multiplier `mult`; each computed in double and
 * rounded once to float. The update is w = w decay - lr_eff O. */
typedef struct {
    float momentum, decay, lr_eff;
} MuonCoefs;
MuonCoefs optim_muon_coefs(const ModelSpec *s, const ParamTensor *p, int step, double mult);

typedef struct Optim Optim;

/* For the `n` tensors of `meta`, laid out at `offsets` in one buffer. */
Optim *optim_new(const ModelSpec *s, const ParamTensor *meta, const size_t *offsets, int n);
void optim_free(Optim *o);

/* One update of `params` from `grads` at training step `step` (0-based). */
void optim_step(Optim *o, float *params, const float *grads, int step);

/* The state to checkpoint: "adam_m", "adam_v", "muon_momentum". Returns
 * how many arrays it filled (at most `max`). */
int optim_state(Optim *o, CkptArray *out, int max);

/* Loads the state from arrays named and sized as optim_state's (a
 * checkpoint's, or optim_state's own arrays, which it leaves as they are);
 * false with the reason in err. */
bool optim_set_state(Optim *o, const CkptArray *in, int n, char *err, size_t errcap);

#endif
