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

#include "attention.h"
#include "real.h"

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

/* ---- rotary ---- */

/* cos and sin [T, half] of the recipe's half-truncated rotary: `pairs`
 * frequencies from 1 down to 1/base (both included), then zeros. Angles are
 * formed in float32 as the recipe does; at long sequences that differs from
 * float64 by up to ~0.016 rad (§13), and matching the records matters more. */
static void rotary_tables(real *cosb, real *sinb, int T, int half, int pairs, double base) {
    for (int j = 0; j < half; j++) {
        float freq = 0.0f;
        if (j < pairs) {
            /* The exponent as torch.linspace(0, 1, pairs) computes it in
             * float32 (from both ends), so the table matches the records'
             * to the last bit where j / (pairs - 1) would round differently. */
            float e = 0.0f;
            if (pairs > 1) {
                float step = 1.0f / (float)(pairs - 1);
                e = j < pairs / 2 ? step * (float)j : 1.0f - step * (float)(pairs - 1 - j);
            }
            freq = powf((float)(1.0 / base), e);
        }
        for (int t = 0; t < T; t++) {
            float angle = (float)t * freq;
            cosb[(size_t)t * half + j] = (real)cosf(angle);
            sinb[(size_t)t * half + j] = (real)sinf(angle);
        }
    }
}

/* Rotates every head of x [T, heads*hd] in place: y1 = x1 c + x2 s,
 * y2 = -x1 s + x2 c (the recipe's sign). `inverse` applies the transpose,
 * which is the backward of this linear map. half: pair (j, j + hd/2);
 * interleaved: pair (2j, 2j + 1). */
static void rotary_apply(real *x, const real *cosb, const real *sinb, int T, int heads, int hd,
                         bool interleaved, bool inverse) {
    int half = hd / 2;
    real sign = inverse ? -1 : 1;
#pragma omp parallel for
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < heads; h++) {
            real *v = x + (size_t)t * heads * hd + (size_t)h * hd;
            for (int j = 0; j < half; j++) {
                real c = cosb[(size_t)t * half + j], s = sign * sinb[(size_t)t * half + j];
                real *a = interleaved ? &v[2 * j] : &v[j];
                real *b = interleaved ? &v[2 * j + 1] : &v[j + half];
                real x1 = *a, x2 = *b;
                *a = x1 * c + x2 * s;
                *b = -x1 * s + x2 * c;
            }
        }
    }
}

#endif
