/*
 * attention.h: the ref executor's attention with the document-causal
 * block-window mask, forward and backward, as named functions, so that
 * model.c and the kernel tests (tests/kernels/, against
 * templates/attention.cu) run the very same code. Built in `real` (real.h):
 * float for the oracle, double for the gradient check. Sums run in `real`
 * in the order written; rows and heads run under OpenMP, each writing only
 * its own outputs, so results do not depend on the thread count.
 */
#ifndef GPTC_REF_ATTENTION_H
#define GPTC_REF_ATTENTION_H

#include <math.h>
#include <omp.h>
#include <string.h>

#include "runtime/ref/real.h"

/* ---- attention with the document-causal block-window mask ---- */

/* Query t may see key k iff k <= t, doc[k] == doc[t] and
 * k / bs >= t / bs - W + 1 (docs/recipe.md, 'Document mask'). Documents
 * are contiguous, so that is one range [first_key(t), t]. */
static inline int first_key(const int *doc_start, int t, int W, int bs) {
    int lo = (t / bs - W + 1) * bs;
    if (lo < doc_start[t]) lo = doc_start[t];
    return lo < 0 ? 0 : lo;
}

/* y[T, H*hd] = softmax(scale q k^T + mask) v per head; lse[H, T] keeps
 * each row's log-sum-exp so backward can rebuild the probabilities.
 * `scratch` holds T reals per thread. */
static inline void attention_fwd(real *y, real *lse, const real *q, const real *k, const real *v,
                                 const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                                 real *scratch) {
    int row = H * hd;
#pragma omp parallel for collapse(2)
    for (int h = 0; h < H; h++) {
        for (int t = 0; t < T; t++) {
            real *p = scratch + (size_t)omp_get_thread_num() * T;
            const real *qt = q + (size_t)t * row + h * hd;
            int lo = first_key(doc_start, t, W, bs);
            real mx = -INFINITY;
            for (int s = lo; s <= t; s++) {
                const real *ks = k + (size_t)s * row + h * hd;
                real dot = 0;
                for (int d = 0; d < hd; d++) dot += qt[d] * ks[d];
                p[s - lo] = dot * scale;
                if (p[s - lo] > mx) mx = p[s - lo];
            }
            real sum = 0;
            for (int s = lo; s <= t; s++) sum += p[s - lo] = exp_r(p[s - lo] - mx);
            real *yt = y + (size_t)t * row + h * hd;
            memset(yt, 0, sizeof(real) * hd);
            for (int s = lo; s <= t; s++) {
                const real *vs = v + (size_t)s * row + h * hd;
                real w = p[s - lo] / sum;
                for (int d = 0; d < hd; d++) yt[d] += w * vs[d];
            }
            lse[(size_t)h * T + t] = mx + log_r(sum);
        }
    }
}

/* With p = exp(s - lse): dv_k += p dy; dp = dy . v_k; ds = p (dp - dy . y);
 * dq += scale ds k_k; dk_k += scale ds q. Heads run in parallel and each
 * writes only its own columns, in ascending t: deterministic. */
static inline void attention_bwd(real *dq, real *dk, real *dv, const real *dy, const real *y,
                                 const real *lse, const real *q, const real *k, const real *v,
                                 const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                                 real *scratch) {
    int row = H * hd;
    memset(dq, 0, sizeof(real) * (size_t)T * row);
    memset(dk, 0, sizeof(real) * (size_t)T * row);
    memset(dv, 0, sizeof(real) * (size_t)T * row);
#pragma omp parallel for
    for (int h = 0; h < H; h++) {
        real *p = scratch + (size_t)omp_get_thread_num() * T;
        for (int t = 0; t < T; t++) {
            const real *qt = q + (size_t)t * row + h * hd, *dyt = dy + (size_t)t * row + h * hd;
            const real *yt = y + (size_t)t * row + h * hd;
            real *dqt = dq + (size_t)t * row + h * hd;
            int lo = first_key(doc_start, t, W, bs);
            real l = lse[(size_t)h * T + t], dyy = 0;
            for (int d = 0; d < hd; d++) dyy += dyt[d] * yt[d];
            for (int s = lo; s <= t; s++) {
                const real *ks = k + (size_t)s * row + h * hd;
                real dot = 0;
                for (int d = 0; d < hd; d++) dot += qt[d] * ks[d];
                p[s - lo] = exp_r(dot * scale - l);
            }
            for (int s = lo; s <= t; s++) {
                const real *ks = k + (size_t)s * row + h * hd, *vs = v + (size_t)s * row + h * hd;
                real *dks = dk + (size_t)s * row + h * hd, *dvs = dv + (size_t)s * row + h * hd;
                real ps = p[s - lo], dp = 0;
                for (int d = 0; d < hd; d++) dp += dyt[d] * vs[d];
                real ds = ps * (dp - dyy) * scale;
                for (int d = 0; d < hd; d++) {
                    dqt[d] += ds * ks[d];
                    dks[d] += ds * qt[d];
                    dvs[d] += ps * dyt[d];
                }
            }
        }
    }
}

#endif
