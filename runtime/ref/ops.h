/*
 * ops.h: the ref executor's operations, forward and backward, in plain C.
 *
 * Included only by model.c (so each precision build gets its own copy).
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

#include "real.h"
#include "spec.h"

static int omp_thread(void) { return omp_get_thread_num(); }

/* torch's rms_norm default: the float32 machine epsilon, in every dtype. */
#define RMS_EPS 1.1920928955078125e-07

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

/* ---- RMS norm without weight, over rows of width n ---- */

static void rmsnorm_fwd(real *y, real *rstd, const real *x, int rows, int n) {
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
static void rmsnorm_bwd(real *dx, bool add, const real *dy, const real *y, const real *rstd,
                        int rows, int n) {
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

/* ---- attention with the document-causal block-window mask ---- */

/* Query t may see key k iff k <= t, doc[k] == doc[t] and
 * k / bs >= t / bs - W + 1 (§3.5). Documents are contiguous, so that is
 * one range [first_key(t), t]. */
static int first_key(const int *doc_start, int t, int W, int bs) {
    int lo = (t / bs - W + 1) * bs;
    if (lo < doc_start[t]) lo = doc_start[t];
    return lo < 0 ? 0 : lo;
}

/* y[T, H*hd] = softmax(scale q k^T + mask) v per head; lse[H, T] keeps
 * each row's log-sum-exp so backward can rebuild the probabilities.
 * `scratch` holds T reals per thread. */
static void attention_fwd(real *y, real *lse, const real *q, const real *k, const real *v,
                          const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                          real *scratch) {
    int row = H * hd;
#pragma omp parallel for collapse(2)
    for (int h = 0; h < H; h++) {
        for (int t = 0; t < T; t++) {
            real *p = scratch + (size_t)omp_thread() * T;
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
static void attention_bwd(real *dq, real *dk, real *dv, const real *dy, const real *y,
                          const real *lse, const real *q, const real *k, const real *v,
                          const int *doc_start, int T, int H, int hd, int W, int bs, real scale,
                          real *scratch) {
    int row = H * hd;
    memset(dq, 0, sizeof(real) * (size_t)T * row);
    memset(dk, 0, sizeof(real) * (size_t)T * row);
    memset(dv, 0, sizeof(real) * (size_t)T * row);
#pragma omp parallel for
    for (int h = 0; h < H; h++) {
        real *p = scratch + (size_t)omp_thread() * T;
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

/* ---- softcap and cross-entropy ---- */

/* Caps logits in place: isru c z / sqrt(z^2 + c^2); sigmoid c s((z + off) / div). */
static void softcap_fwd(real *z, size_t n, SoftcapKind kind, real cap, real div, real off) {
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
 * sigmoid z (1 - z/c) / div. */
static real softcap_grad(real z, SoftcapKind kind, real cap, real div) {
    if (kind == SOFTCAP_NONE) return 1;
    if (kind == SOFTCAP_SIGMOID) return z * (1 - z / cap) / div;
    real u = 1 - (z / cap) * (z / cap);
    return u * sqrt_r(u);
}

/* Mean cross-entropy of rows z[T, V] against targets. Per-row losses go to
 * `row_loss` and are summed in order, so the mean is deterministic. */
static double cross_entropy_fwd(real *row_loss, const real *z, const int *targets, int T, int V) {
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
static void cross_entropy_bwd(real *dl, const real *z, const int *targets, int T, int V,
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
