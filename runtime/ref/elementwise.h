/*
 * elementwise.h: the ref executor's elementwise steps that gptc also
 * generates as kernels — the x0 mix (templates/x0_mix.cu), the relu^2
 * activation (templates/relu2.cu), the embedding gather and its scatter-add
 * (templates/embed.cu), and the axpy and scaling that make the skips
 * (templates/x0_skip.cu, skip.cu) and the value mix (templates/qkv.cu) —
 * as named functions, so that model.c and the kernel tests (tests/kernels/) run the
 * very same code.
 *
 * Each function states its floating-point order; the kernels follow it in
 * fp32, so a kernel's bf16 output must equal this result rounded once to
 * bf16. Built in `real` (real.h): float for the oracle, double for the
 * gradient check. Outputs may be the same array as an input where noted:
 * every element is read before it is written.
 */
#ifndef GPTC_REF_ELEMENTWISE_H
#define GPTC_REF_ELEMENTWISE_H

#include <stddef.h>
#include <string.h>

#include "runtime/ref/real.h"

/* The x0 mix of a layer, over n elements:
 *   xm = lam[0] xs + lam[1] x0[0] + ... + lam[tables] x0[tables - 1],
 * added left to right (the kernel's order). lam points at the layer's block
 * lambdas, spec_lambda_index(spec, layer, 0) onwards. xm may be xs. */
static inline void x0_mix_fwd(real *xm, const real *xs, const real *const x0[], const real *lam,
                              int tables, size_t n) {
#pragma omp parallel for if (n > 4096)
    for (size_t i = 0; i < n; i++) {
        real acc = lam[0] * xs[i];
        for (int k = 0; k < tables; k++) acc += lam[1 + k] * x0[k][i];
        xm[i] = acc;
    }
}

/* Its backward for the activations (the lambdas' gradients are dot
 * products, left to the caller):
 *   dxs = lam[0] dxm;  dx0[k] += lam[1 + k] dxm  (accumulating over layers).
 * dxs may be dxm. */
static inline void x0_mix_bwd(real *dxs, real *const dx0[], const real *dxm, const real *lam,
                              int tables, size_t n) {
#pragma omp parallel for if (n > 4096)
    for (size_t i = 0; i < n; i++) {
        real g = dxm[i];
        for (int k = 0; k < tables; k++) dx0[k][i] += lam[1 + k] * g;
        dxs[i] = lam[0] * g;
    }
}

/* act = relu(pre)^2 = r r with r = pre > 0 ? pre : 0 (NaN gives 0). act may
 * be pre. */
static inline void relu2_fwd(real *act, const real *pre, size_t n) {
#pragma omp parallel for
    for (size_t j = 0; j < n; j++) {
        real r = pre[j] > 0 ? pre[j] : 0;
        act[j] = r * r;
    }
}

/* dpre = dact (pre > 0 ? 2 pre : 0). dpre may be dact. */
static inline void relu2_bwd(real *dpre, const real *dact, const real *pre, size_t n) {
#pragma omp parallel for
    for (size_t j = 0; j < n; j++) dpre[j] = dact[j] * (pre[j] > 0 ? 2 * pre[j] : 0);
}

/* y = a x + y over n elements. */
static inline void axpy(real *y, real a, const real *x, size_t n) {
#pragma omp parallel for if (n > 4096)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y = a x over n elements. y may be x. */
static inline void scale(real *y, real a, const real *x, size_t n) {
#pragma omp parallel for if (n > 4096)
    for (size_t i = 0; i < n; i++) y[i] = a * x[i];
}

/* out[t] = table[ids[t]] for T rows of width D. */
static inline void embed_gather(real *out, const real *table, const int *ids, int T, int D) {
#pragma omp parallel for
    for (int t = 0; t < T; t++) memcpy(out + (size_t)t * D, table + (size_t)ids[t] * D, sizeof(real) * D);
}

/* dtable[ids[t]] += drows[t], token by token in order t = 0, 1, ...: each
 * table element adds its rows in position order, deterministic. */
static inline void embed_scatter_add(real *dtable, const real *drows, const int *ids, int T, int D) {
    for (int t = 0; t < T; t++) axpy(dtable + (size_t)ids[t] * D, 1, drows + (size_t)t * D, (size_t)D);
}

#endif
