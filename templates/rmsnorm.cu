/*
 * rmsnorm.cu: RMS norm without weight over rows of WIDTH elements, forward
 * and backward (the recipe's F.rms_norm: block input, MLP input, final norm
 * and x0 tables at WIDTH = dim; the per-head q, k, v norms at WIDTH =
 * head_dim, over rows = T * heads).
 *
 * Computes, per row t, with n = WIDTH and eps = 2^-23 (torch's default: the
 * float32 machine epsilon, in every dtype; the ref executor's RMS_EPS)
 *   forward   ss = sum_i x[t, i]^2
 *             rstd[t] = 1 / sqrtf(ss / n + eps)
 *             y[t, i] = x[t, i] * rstd[t]
 *   backward  m = (sum_i dy[t, i] * y[t, i]) / n
 *             g = rstd[t] * (dy[t, i] - y[t, i] * m)
 *             dx[t, i] = accumulate ? dx[t, i] + g : g
 *   as runtime/ref/reduce.h's rmsnorm_fwd and rmsnorm_bwd, in the same
 *   order after the sum; the sums are fp32 here (double there), added in
 *   the order below.
 * Layouts   x, y, dy, dx: [rows, WIDTH] row-major; rstd: [rows] fp32. y may
 *           be x, and dx may be dy (with accumulate 0 or 1): every thread
 *           reads its elements into registers before any is written.
 * Dtypes    bf16 tensors, fp32 statistics and math, one rounding to bf16
 *           (nearest even) per output; with accumulate, dx is added in fp32
 *           and rounded once.
 * Threads   TPR consecutive threads (a power of two) own one row, so a block
 *           holds THREADS / TPR rows: TPR <= 32 is part of a warp (several
 *           rows per warp, or one row per warp at TPR = 32), TPR > 32 is the
 *           whole block (THREADS == TPR, one row per block). Thread j of a
 *           row holds the row's VEC-element vectors j, j + TPR, j + 2 TPR,
 *           ... (CHUNKS of them at most). With STASH = 1 it keeps them in
 *           registers, as bf16 pairs, from the load to the write, so each
 *           element is read once (pairs, not single bf16 values: ptxas
 *           keeps them in half as many registers; WIDTH is even, as heads x
 *           head_dim with head_dim even, so VEC is too). With STASH = 0
 *           (rows too wide for registers) it reads them again after the
 *           reduction: the same values, so the same results.
 * Launch    THREADS threads per block, blocks = ceil(rows / (THREADS / TPR)),
 *           no dynamic shared memory (block_sum's 32 floats when TPR > 32).
 *           Pointers 16-byte aligned and WIDTH % VEC == 0, so rows and
 *           vectors are aligned. Rows past `rows` in the last block take
 *           part in the reductions (with nothing to add) and write nothing:
 *           barriers and shuffles stay in uniform control flow.
 * Determinism  each thread adds its elements in index order, then the
 *           group's threads combine by group_sum<TPR> (prims.cuh): a
 *           butterfly over lanes, or block_sum's fixed tree. The order
 *           depends on WIDTH, VEC and TPR only, not on scheduling or on
 *           `rows`: bitwise reproducible. No atomics.
 * Placeholders  SUFFIX (kernel-name suffix), WIDTH, TPR, STASH, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
rmsnorm_fwd_{{SUFFIX}}(__nv_bfloat16 *y, float *rstd, const __nv_bfloat16 *x, int rows) {
    constexpr int NVEC = {{WIDTH}} / {{VEC}}, TPR = {{TPR}}, CHUNKS = (NVEC + TPR - 1) / TPR;
    constexpr int PAIRS = {{VEC}} / 2, KEPT = {{STASH}} ? CHUNKS : 1;
    static_assert({{VEC}} % 2 == 0 && {{WIDTH}} % {{VEC}} == 0, "rmsnorm: VEC must be even and divide WIDTH");
    const int row = (int)(blockIdx.x * ({{THREADS}} / TPR) + threadIdx.x / TPR);
    const int j = (int)(threadIdx.x % TPR);
    const bool live = row < rows;
    const long long base = (long long)row * {{WIDTH}};
    const __nv_bfloat162 *xp = reinterpret_cast<const __nv_bfloat162 *>(x + base);
    Vec<__nv_bfloat162, PAIRS> v[KEPT] = {};
    float ss = 0.0f;
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (!live || k >= NVEC) continue;
        const Vec<__nv_bfloat162, PAIRS> a = vec_load<__nv_bfloat162, PAIRS>(xp + k * PAIRS);
        if ({{STASH}}) v[{{STASH}} ? c : 0] = a;
        for (int e = 0; e < PAIRS; e++) {
            const float2 f = __bfloat1622float2(a.v[e]);
            ss += f.x * f.x;
            ss += f.y * f.y;
        }
    }
    ss = group_sum<TPR>(ss);
    const float r = 1.0f / sqrtf(ss / (float){{WIDTH}} + 1.1920928955078125e-07f);
    if (!live) return;
    if (j == 0) rstd[row] = r;
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (k >= NVEC) continue;
        const Vec<__nv_bfloat162, PAIRS> a = {{STASH}} ? v[{{STASH}} ? c : 0] : vec_load<__nv_bfloat162, PAIRS>(xp + k * PAIRS);
        Vec<__nv_bfloat162, PAIRS> out;
        for (int e = 0; e < PAIRS; e++) {
            const float2 f = __bfloat1622float2(a.v[e]);
            out.v[e] = __floats2bfloat162_rn(f.x * r, f.y * r);
        }
        vec_store<__nv_bfloat162, PAIRS>(reinterpret_cast<__nv_bfloat162 *>(y + base) + k * PAIRS, out);
    }
}

extern "C" __global__ void __launch_bounds__({{THREADS}})
rmsnorm_bwd_{{SUFFIX}}(__nv_bfloat16 *dx, const __nv_bfloat16 *dy, const __nv_bfloat16 *y,
                       const float *rstd, int accumulate, int rows) {
    constexpr int NVEC = {{WIDTH}} / {{VEC}}, TPR = {{TPR}}, CHUNKS = (NVEC + TPR - 1) / TPR;
    constexpr int PAIRS = {{VEC}} / 2, KEPT = {{STASH}} ? CHUNKS : 1;
    const int row = (int)(blockIdx.x * ({{THREADS}} / TPR) + threadIdx.x / TPR);
    const int j = (int)(threadIdx.x % TPR);
    const bool live = row < rows;
    const long long base = (long long)row * {{WIDTH}};
    const __nv_bfloat162 *dyp = reinterpret_cast<const __nv_bfloat162 *>(dy + base);
    const __nv_bfloat162 *yp = reinterpret_cast<const __nv_bfloat162 *>(y + base);
    Vec<__nv_bfloat162, PAIRS> g[KEPT] = {}, h[KEPT] = {};
    float dot = 0.0f;
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (!live || k >= NVEC) continue;
        const Vec<__nv_bfloat162, PAIRS> gk = vec_load<__nv_bfloat162, PAIRS>(dyp + k * PAIRS);
        const Vec<__nv_bfloat162, PAIRS> hk = vec_load<__nv_bfloat162, PAIRS>(yp + k * PAIRS);
        if ({{STASH}}) g[{{STASH}} ? c : 0] = gk, h[{{STASH}} ? c : 0] = hk;
        for (int e = 0; e < PAIRS; e++) {
            const float2 a = __bfloat1622float2(gk.v[e]), b = __bfloat1622float2(hk.v[e]);
            dot += a.x * b.x;
            dot += a.y * b.y;
        }
    }
    dot = group_sum<TPR>(dot);
    if (!live) return;
    const float m = dot / (float){{WIDTH}}, r = rstd[row];
    for (int c = 0; c < CHUNKS; c++) {
        const int k = c * TPR + j;
        if (k >= NVEC) continue;
        __nv_bfloat162 *d = reinterpret_cast<__nv_bfloat162 *>(dx + base) + k * PAIRS;
        const Vec<__nv_bfloat162, PAIRS> gk = {{STASH}} ? g[{{STASH}} ? c : 0] : vec_load<__nv_bfloat162, PAIRS>(dyp + k * PAIRS);
        const Vec<__nv_bfloat162, PAIRS> hk = {{STASH}} ? h[{{STASH}} ? c : 0] : vec_load<__nv_bfloat162, PAIRS>(yp + k * PAIRS);
        float2 grad[PAIRS];
        for (int e = 0; e < PAIRS; e++) {
            const float2 a = __bfloat1622float2(gk.v[e]), b = __bfloat1622float2(hk.v[e]);
            grad[e] = make_float2(r * (a.x - b.x * m), r * (a.y - b.y * m));
        }
        if (accumulate) {
            const Vec<__nv_bfloat162, PAIRS> old = vec_load<__nv_bfloat162, PAIRS>(d);
            for (int e = 0; e < PAIRS; e++) {
                const float2 o = __bfloat1622float2(old.v[e]);
                grad[e] = make_float2(o.x + grad[e].x, o.y + grad[e].y);
            }
        }
        Vec<__nv_bfloat162, PAIRS> out;
        for (int e = 0; e < PAIRS; e++) out.v[e] = __floats2bfloat162_rn(grad[e].x, grad[e].y);
        vec_store<__nv_bfloat162, PAIRS>(d, out);
    }
}
