/*
 * spec.c: the schedules and derived sizes that a validated ModelSpec implies
 * at a given training step: the block-granular attention windows, the
 * learning-rate multiplier, Muon's momentum, and the length of the `scalars`
 * vector. Each follows docs/recipe.md ('Window schedule', 'Schedules', 'The
 * scalars vector') and is evaluated in double precision, as the recipe's
 * Python does, so that the step at which a window grows matches the
 * reference run exactly.
 */
#include <math.h>

#include "compiler/lang/spec.h"

/* Training progress in [0, 1]. The recipe asserts 0 <= x <= 1; we clamp
 * instead so that a step past the end (or a zero-step run) reads as "done". */
static double progress(const ModelSpec *s, int step) {
    if (s->train.steps <= 0) return 1.0;
    double x = (double)step / (double)s->train.steps;
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

/* The number of blocks of `block` tokens that cover `tokens`, at least one:
 * next_multiple_of_n(tokens, n=block) / block in the recipe. The quotient is
 * corrected by exact comparisons (m * block is an exact double) so the
 * rounding of the division can never move a transition step. */
static int blocks_covering(double tokens, int block) {
    if (block <= 0 || !(tokens > block)) return 1;
    int m = (int)ceil(tokens / block);
    while (m > 1 && (double)(m - 1) * block >= tokens) m--;
    while ((double)m * block < tokens) m++;
    return m;
}

/* The cubic of @jadenj3o: f(0)=0, f(1/2)=1/2 with zero slope, f(1)=1.
 * pow() mirrors Python's x ** 3; plain products give the same table for the
 * reference run, but pow() is what the recipe evaluates. */
static double cubic(double x) {
    return 4.0 * pow(x, 3.0) - 6.0 * pow(x, 2.0) + 3.0 * x;
}

static int long_window(const ModelSpec *s, int step) {
    const SpecWindow *w = &s->attn.window;
    double x = progress(s, step);
    switch (w->schedule) {
    case WINDOW_CUBIC:
        return blocks_covering(w->max_tokens * cubic(x), w->block_size);
    case WINDOW_LINEAR:
        return blocks_covering(w->max_tokens * x, w->block_size);
    case WINDOW_CONSTANT:
        break;
    }
    return blocks_covering(w->max_tokens, w->block_size);
}

void spec_window_blocks(const ModelSpec *s, int step, bool validation,
                        int *long_blocks, int *short_blocks) {
    const SpecWindow *w = &s->attn.window;
    int lw = validation && w->val_blocks > 0 ? w->val_blocks
                                             : long_window(s, step);
    /* A short window of 0 blocks behaves as 1 (the diagonal block):
     * docs/recipe.md, 'Window schedule'. */
    int sw = lw / 2;
    if (w->short_max_blocks > 0 && sw > w->short_max_blocks)
        sw = w->short_max_blocks;
    *long_blocks = lw;
    *short_blocks = sw < 1 ? 1 : sw;
}

/* With cooldown_frac <= 0 there is no cooldown: the multiplier stays at 1.0
 * (the floor only bounds the decay, so it has nothing to act on). */
double spec_lr_mult(const ModelSpec *s, int step) {
    double cd = s->train.cooldown_frac;
    double x = progress(s, step);
    if (cd <= 0.0 || x < 1.0 - cd) return 1.0;
    double w = (1.0 - x) / cd;
    return s->train.lr_floor + (1.0 - s->train.lr_floor) * w;
}

double spec_muon_momentum(const ModelSpec *s, int step) {
    const SpecMuon *m = &s->train.muon;
    double frac = 1.0;
    if (m->momentum_warmup_steps > 0 && step < m->momentum_warmup_steps)
        frac = step <= 0 ? 0.0 : (double)step / m->momentum_warmup_steps;
    return (1.0 - frac) * m->momentum_start + frac * m->momentum_end;
}

int spec_scalars_len(const ModelSpec *s) {
    int L = s->model.layers;
    return L + L * (s->x0.tables + 1) + 2 * L;
}

int spec_skip_index(const ModelSpec *s, int from) {
    (void)s;
    return from;
}

int spec_lambda_index(const ModelSpec *s, int layer, int j) {
    int L = s->model.layers;
    return L + layer * (s->x0.tables + 1) + j;
}

int spec_sa_index(const ModelSpec *s, int layer, int j) {
    int L = s->model.layers;
    return L + L * (s->x0.tables + 1) + 2 * layer + j;
}

const char *spec_dtype_name(DType d) {
    return d == DTYPE_FP32 ? "fp32" : "bf16";
}
