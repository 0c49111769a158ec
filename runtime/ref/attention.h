/*
 * attention.h: the ref executor's attention with the document-causal
 * block-window mask, forward and backward, as named functions, so that
 * model.c and the kernel tests (tests/kernels/, against
 * templates/attention.cu) run the very same code. Built in `real` (real.h):
 * float for the oracle, double for the gradient check.
 *
 * Queries go in blocks of ATTN_QB rows. A block's visible keys form one
 * range (below), so its scores, probabilities and gradients are a handful
 * of BLAS products over that range with the invisible entries zeroed:
 * the same arithmetic as one row at a time, at BLAS speed (the scalar
 * loops spent half of a tiny step here at the widest windows). Every BLAS
 * call runs inside an OpenMP region, where OpenBLAS stays on one thread,
 * so a product's summation order does not depend on the thread count.
 */
#ifndef GPTC_REF_ATTENTION_H
#define GPTC_REF_ATTENTION_H

#include <math.h>
#include <omp.h>
#include <string.h>

#include "runtime/ref/real.h"

/* Rows per query block: large enough for BLAS to run at speed, small
 * enough that the masked corner a block computes in vain stays cheap. */
#define ATTN_QB 32

/* Reals of scratch attention_fwd and attention_bwd need per thread:
 * two [ATTN_QB, T] tiles (scores or probabilities, and their gradient). */
static inline size_t attention_scratch(int T) { return 2 * (size_t)ATTN_QB * T; }

/* ---- attention with the document-causal block-window mask ---- */

/* Query t may see key k iff k <= t, doc[k] == doc[t] and
 * k / bs >= t / bs - W + 1 (docs/recipe.md, 'Document mask'). Documents
 * are contiguous, so that is one range [first_key(t), t]; first_key never
 * decreases with t, so a block of queries t0..t1 sees at most the keys
 * first_key(t0)..t1. */
static inline int first_key(const int *doc_start, int t, int W, int bs) {
    int lo = (t / bs - W + 1) * bs;
    if (lo < doc_start[t]) lo = doc_start[t];
    return lo < 0 ? 0 : lo;
}

/* One query block of one head: rows t0..t0+nq-1, keys lo..lo+n-1. */
typedef struct {
    int h, t0, nq, lo, n;
} AttnBlock;

static inline AttnBlock attn_block(const int *doc_start, int h, int t0, int T, int W, int bs) {
    int nq = T - t0 < ATTN_QB ? T - t0 : ATTN_QB;
    int lo = first_key(doc_start, t0, W, bs);
    return (AttnBlock){h, t0, nq, lo, t0 + nq - lo};
}

/* s[nq, n] = scale q k^T over the block's range. */
static inline void attn_scores(real *s, const real *q, const real *k, const AttnBlock *b, int row, int hd,
                               real scale) {
    cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, b->nq, b->n, hd, scale,
               q + (size_t)b->t0 * row + b->h * hd, row, k + (size_t)b->lo * row + b->h * hd, row, 0, s, b->n);
}

/* The first and last visible column of block row i. */
static inline void attn_row_range(const AttnBlock *b, const int *doc_start, int i, int W, int bs, int *c0,
                                  int *c1) {
    int t = b->t0 + i;
    *c0 = first_key(doc_start, t, W, bs) - b->lo;
    *c1 = t - b->lo;
}

/* y[T, H*hd] = softmax(scale q k^T + mask) v per head; lse[H, T] keeps
 * each row's log-sum-exp so backward can rebuild the probabilities.
 * Blocks run in parallel, each writing only its own rows. */
static inline void attention_fwd(real *y, real *lse, const real *q, const real *k, const real *v,
                                 const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                                 real *scratch) {
    int row = H * hd, nb = (T + ATTN_QB - 1) / ATTN_QB;
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int h = 0; h < H; h++) {
        for (int j = 0; j < nb; j++) {
            real *p = scratch + (size_t)omp_get_thread_num() * attention_scratch(T);
            AttnBlock b = attn_block(doc_start, h, j * ATTN_QB, T, W, bs);
            attn_scores(p, q, k, &b, row, hd, scale);
            for (int i = 0; i < b.nq; i++) {
                real *pi = p + (size_t)i * b.n;
                int c0, c1;
                attn_row_range(&b, doc_start, i, W, bs, &c0, &c1);
                real mx = -INFINITY, sum = 0;
                for (int c = c0; c <= c1; c++)
                    if (pi[c] > mx) mx = pi[c];
                for (int c = 0; c < b.n; c++) {
                    pi[c] = c < c0 || c > c1 ? 0 : exp_r(pi[c] - mx);
                    sum += pi[c];
                }
                for (int c = c0; c <= c1; c++) pi[c] /= sum;
                lse[(size_t)h * T + b.t0 + i] = mx + log_r(sum);
            }
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b.nq, hd, b.n, 1, p, b.n,
                       v + (size_t)b.lo * row + h * hd, row, 0, y + (size_t)b.t0 * row + h * hd, row);
        }
    }
}

/* With p = exp(s - lse): dv += p^T dy; dp = dy v^T; ds = p (dp - dy . y);
 * dq = scale ds k; dk += scale ds^T q, block by block. Heads run in
 * parallel; within a head the blocks go in ascending t, so dk and dv sum
 * in a fixed order: deterministic. */
static inline void attention_bwd(real *dq, real *dk, real *dv, const real *dy, const real *y,
                                 const real *lse, const real *q, const real *k, const real *v,
                                 const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                                 real *scratch) {
    int row = H * hd, nb = (T + ATTN_QB - 1) / ATTN_QB;
    memset(dk, 0, sizeof(real) * (size_t)T * row);
    memset(dv, 0, sizeof(real) * (size_t)T * row);
#pragma omp parallel for schedule(dynamic)
    for (int h = 0; h < H; h++) {
        real *p = scratch + (size_t)omp_get_thread_num() * attention_scratch(T);
        real *dp = p + (size_t)ATTN_QB * T;
        for (int j = 0; j < nb; j++) {
            AttnBlock b = attn_block(doc_start, h, j * ATTN_QB, T, W, bs);
            size_t qo = (size_t)b.t0 * row + h * hd, ko = (size_t)b.lo * row + h * hd;
            attn_scores(p, q, k, &b, row, hd, scale);
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, b.nq, b.n, hd, 1, dy + qo, row, v + ko, row, 0,
                       dp, b.n);
            for (int i = 0; i < b.nq; i++) {
                real *pi = p + (size_t)i * b.n, *dpi = dp + (size_t)i * b.n;
                const real *dyt = dy + qo + (size_t)i * row, *yt = y + qo + (size_t)i * row;
                real l = lse[(size_t)h * T + b.t0 + i], dyy = 0;
                for (int d = 0; d < hd; d++) dyy += dyt[d] * yt[d];
                int c0, c1;
                attn_row_range(&b, doc_start, i, W, bs, &c0, &c1);
                for (int c = 0; c < b.n; c++) {
                    pi[c] = c < c0 || c > c1 ? 0 : exp_r(pi[c] - l);
                    dpi[c] = pi[c] * (dpi[c] - dyy) * scale;
                }
            }
            cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b.nq, hd, b.n, 1, dp, b.n, k + ko, row, 0,
                       dq + qo, row);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, b.n, hd, b.nq, 1, dp, b.n, q + qo, row, 1,
                       dk + ko, row);
            cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, b.n, hd, b.nq, 1, p, b.n, dy + qo, row, 1,
                       dv + ko, row);
        }
    }
}

#endif
