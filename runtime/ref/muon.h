/*
 * muon.h: Muon's elementwise arithmetic on fp32 values, the code that
 * runtime/ref/optim.c applies to every Muon tensor and that templates/
 * muon_momentum.cu and templates/muon.cu reproduce on the GPU (bit for bit,
 * without FMA contraction). In a header of its own, as adam.h, so that the
 * kernel tests (tests/kernels/) compare the kernels with the very code the
 * optimizer runs.
 */
#ifndef GPTC_MUON_H
#define GPTC_MUON_H

#include <stdbool.h>
#include <stddef.h>

/* Newton-Schulz's X / (||X||_F + eps): the recipe's eps. */
#define MUON_NS_EPS 1e-7

/* The momentum buffer's EMA, buf = m buf + (1 - m) g, and the matrix
 * Newton-Schulz starts from: the Nesterov form m buf + (1 - m) g, or buf. */
static inline void muon_momentum_apply(float *buf, float *u, const float *g, size_t n, float m, bool nesterov) {
    for (size_t j = 0; j < n; j++) {
        buf[j] = m * buf[j] + (1 - m) * g[j];
        u[j] = nesterov ? m * buf[j] + (1 - m) * g[j] : buf[j];
    }
}

/* Decoupled weight decay and the orthogonalised step: w = w decay - lr_eff o. */
static inline void muon_update_apply(float *w, const float *o, size_t n, float decay, float lr_eff) {
    for (size_t j = 0; j < n; j++) w[j] = w[j] * decay - lr_eff * o[j];
}

#endif
