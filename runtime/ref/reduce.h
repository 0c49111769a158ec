/*
 * reduce.h: the ref executor's steps that reduce across a row or a tensor
 * and that gptc also generates as kernels -- the weightless RMS norm
 * (templates/rmsnorm.cu), the dot product that gives a scalar lambda its
 * gradient (templates/x0_lambda_grad.cu, then templates/colsum.cu), and the
 * softcap with the cross-entropy (templates/softcap_ce.cu) -- as named
 * functions, so that model.c and the kernel tests (tests/kernels/) run the
 * very same code, as runtime/ref/elementwise.h does for the elementwise
 * steps.
 *
 * The sums here run in double, in a fixed order, so results do not depend
 * on the thread count; the kernels sum in fp32 in their own fixed order,
 * and the tests bound the difference (tests/kernels/test_kernels.c). Built
 * in `real` (real.h): float for the oracle, double for the gradient check.
 */
#ifndef GPTC_REF_REDUCE_H
#define GPTC_REF_REDUCE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/ref/real.h"
#include "compiler/lang/spec.h"

/* torch's rms_norm default: the float32 machine epsilon, in every dtype. */
#define RMS_EPS 1.1920928955078125e-07

/* ---- RMS norm without weight, over rows of width n ---- */

static inline void rmsnorm_fwd(real *y, real *rstd, const real *x, int rows, int n) {
#pragma omp parallel for
    for (int r = 0; r < rows; r++) {
        const real *xr = x + (size_t)r * n;
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        real s = (real)(1.0 / sqrt(ss / n + RMS_EPS));
        rstd[r] = s;
        for (int i = 0; i < n; i++) y[(size_t)r * n + i] = xr[i] * s;
    }
}

/* With y = x r and r = (mean(x^2) + eps)^-1/2:
 * dx = r (dy - y mean(dy y)). Adds into dx when `add`. */
static inline void rmsnorm_bwd(real *dx, bool add, const real *dy, const real *y,
                               const real *rstd, int rows, int n) {
#pragma omp parallel for
    for (int r = 0; r < rows; r++) {
        const real *dyr = dy + (size_t)r * n, *yr = y + (size_t)r * n;
        real *dxr = dx + (size_t)r * n;
        double dot = 0;
        for (int i = 0; i < n; i++) dot += (double)dyr[i] * yr[i];
        real m = (real)(dot / n), s = rstd[r];
        for (int i = 0; i < n; i++) {
            real g = s * (dyr[i] - yr[i] * m);
            dxr[i] = add ? dxr[i] + g : g;
        }
    }
}

/* ---- scalar gradients ---- */

/* sum of x . y: the gradient of a scalar lambda. The sum is cut into a
 * fixed number of chunks, summed in parallel, then added in chunk order,
 * so the result does not depend on the thread count. */
#define DOT_CHUNKS 64
static inline real dot(const real *x, const real *y, size_t n) {
    double part[DOT_CHUNKS];
    size_t chunk = (n + DOT_CHUNKS - 1) / DOT_CHUNKS;
#pragma omp parallel for if (n > 4096)
    for (int c = 0; c < DOT_CHUNKS; c++) {
        double s = 0;
        size_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        for (size_t i = c * chunk; i < end; i++) s += (double)x[i] * y[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < DOT_CHUNKS; c++) s += part[c];
    return (real)s;
}

/* ---- softcap and cross-entropy ---- */

/* Caps logits in place: isru c z / sqrt(z^2 + c^2); sigmoid c s((z + off) / div). */
static inline void softcap_fwd(real *z, size_t n, SoftcapKind kind, real cap, real div, real off) {
    if (kind == SOFTCAP_NONE) return;
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        real x = z[i];
        z[i] = kind == SOFTCAP_ISRU ? cap * x / sqrt_r(x * x + cap * cap)
                                    : cap / (1 + exp_r(-(x + off) / div));
    }
}

/* The softcap's derivative written in terms of its output z, so the raw
 * logits need not be kept: isru (1 - (z/c)^2)^(3/2), which is c^3 / (l^2 + c^2)^(3/2);
 * sigmoid z (1 - z/c) / div. For a saturated isru logit (|l| above about
 * 2^12 c) z rounds to c or just past it, and 1 - (z/c)^2 to 0 or just
 * below: clamped at 0, the true slope's limit, rather than a NaN. */
static inline real softcap_grad(real z, SoftcapKind kind, real cap, real div) {
    if (kind == SOFTCAP_NONE) return 1;
    if (kind == SOFTCAP_SIGMOID) return z * (1 - z / cap) / div;
    real u = 1 - (z / cap) * (z / cap);
    u = u > 0 ? u : 0;
    return u * sqrt_r(u);
}

/* Mean cross-entropy of rows z[T, V] against targets. Per-row losses go to
 * `row_loss` and are summed in order, so the mean is deterministic. */
static inline double cross_entropy_fwd(real *row_loss, const real *z, const int *targets, int T,
                                       int V) {
#pragma omp parallel for
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * V;
        real mx = zt[0];
        for (int i = 1; i < V; i++) mx = zt[i] > mx ? zt[i] : mx;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)(zt[i] - mx));
        row_loss[t] = (real)(log(sum) + mx - zt[targets[t]]);
    }
    double loss = 0;
    for (int t = 0; t < T; t++) loss += row_loss[t];
    return loss / T;
}

/* d loss / d raw logits: (softmax(z) - onehot) / T times the softcap's slope. */
static inline void cross_entropy_bwd(real *dl, const real *z, const int *targets, int T, int V,
                                     SoftcapKind kind, real cap, real div) {
#pragma omp parallel for
    for (int t = 0; t < T; t++) {
        const real *zt = z + (size_t)t * V;
        real *dt = dl + (size_t)t * V;
        real mx = zt[0];
        for (int i = 1; i < V; i++) mx = zt[i] > mx ? zt[i] : mx;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)(zt[i] - mx));
        for (int i = 0; i < V; i++) {
            real p = (real)(exp((double)(zt[i] - mx)) / sum);
            real g = (p - (i == targets[t])) / T;
            dt[i] = g * softcap_grad(zt[i], kind, cap, div);
        }
    }
}

#endif
