/*
 * adam.h: one Adam step on fp32 values in torch.optim.AdamW's form, the
 * arithmetic that runtime/ref/optim.c applies to every Adam tensor and that
 * templates/adam.cu reproduces on the GPU:
 *
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g g
 *   p = p decay - step_size m / (sqrt(v) rbc2 + eps)
 *
 * In a header of its own so that the kernel tests (tests/kernels/) compare
 * the kernel with the very code the optimizer runs, coefficients included:
 * the kernel receives exactly the floats adam_coefs returns.
 */
#ifndef GPTC_ADAM_H
#define GPTC_ADAM_H

#include <math.h>
#include <stddef.h>

/* The step's coefficients: the kernel's scalar arguments, in its order. */
typedef struct {
    float beta1, beta2, eps, decay, step_size, rbc2;
} AdamCoefs;

/* For training step `step` (0-based) at learning rate lr (the schedule
 * already applied): bias corrections bc1 = 1 - beta1^(step+1) and bc2 =
 * 1 - beta2^(step+1), decay = 1 - lr weight_decay, step_size = lr / bc1,
 * rbc2 = 1 / sqrt(bc2). Computed in double and rounded once to float, so
 * every executor receives the same values. */
static inline AdamCoefs adam_coefs(double lr, double beta1, double beta2, double eps,
                                   double weight_decay, int step) {
    double bc1 = 1 - pow(beta1, step + 1), bc2 = 1 - pow(beta2, step + 1);
    return (AdamCoefs){(float)beta1,
                       (float)beta2,
                       (float)eps,
                       (float)(1 - lr * weight_decay),
                       (float)(lr / bc1),
                       (float)(1 / sqrt(bc2))};
}

/* The update of n values of p with their moments m and v, in place. */
static inline void adam_apply(float *p, float *m, float *v, const float *g, size_t n, const AdamCoefs *c) {
    float b1 = c->beta1, b2 = c->beta2;
    for (size_t j = 0; j < n; j++) {
        m[j] = b1 * m[j] + (1 - b1) * g[j];
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
        p[j] = p[j] * c->decay - c->step_size * m[j] / (sqrtf(v[j]) * c->rbc2 + c->eps);
    }
}

#endif
