/*
 * ops.h: the ref executor's operations, forward and backward, in plain C.
 *
 * Included only by model.c (so each precision build gets its own copy).
 * Attention lives in attention.h, shared with the kernel tests.
 * Activations are row-major [T, width]; a head h of a [T, heads*head_dim]
 * tensor is the column block h*head_dim .. (h+1)*head_dim - 1, as in the
 * recipe's view(B, T, H, D). Loops over independent rows run under OpenMP;
 * every reduction that feeds a gradient runs in a fixed order, so results
 * do not depend on the thread count.
 */
#ifndef GPTC_REF_OPS_H
#define GPTC_REF_OPS_H

#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/ref/attention.h"
#include "runtime/ref/real.h"
#include "runtime/ref/rotary.h"

/* ---- matrix products (CBLAS, row-major) ---- */

/* y[T, out] = x[T, in] . W[out, in]^T, the recipe's F.linear without bias. */
static void linear_fwd(real *y, const real *x, const real *W, int T, int in, int out) {
    cblas_gemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1, x, in, W, in, 0, y, out);
}

/* dW[out, in] += dy^T . x; dx[T, in] (+)= dy . W when dx is not NULL. */
static void linear_bwd(real *dx, bool dx_add, real *dW, const real *dy, const real *x,
                       const real *W, int T, int in, int out) {
    cblas_gemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1, dy, out, x, in, 1, dW, in);
    if (dx)
        cblas_gemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1, dy, out, W, in,
                   dx_add ? 1 : 0, dx, in);
}

#endif
