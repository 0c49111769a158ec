/*
 * colsum.cu: the second stage of every two-stage reduction: column sums of
 * a small fp32 matrix, by one block, in a fixed order.
 *
 * Computes, for j = 0 .. cols-1,
 *   s_j = sum over i = 0 .. n-1 of in[i * cols + j]
 *   out[out_off + j] = accumulate ? out[out_off + j] + s_j * scale : s_j * scale
 * Uses    the x0-mix lambdas' gradients (x0_lambda_grad.cu's PARTS partials
 *         of 1 + TABLES columns into the scalar gradients, scale 1,
 *         accumulate 1, as the ref executor's `dsc[...] += dot(...)`), and
 *         the mean loss (softcap_ce.cu's per-row losses, n = rows, cols 1,
 *         scale = 1 / rows rounded to float, accumulate 0).
 * Layouts   in: [n, cols] row-major fp32; out: fp32, written at out_off ..
 *           out_off + cols - 1 (an offset, so that `out` itself stays
 *           aligned, as every pointer argument is).
 * Launch    exactly 1 block of THREADS threads, no dynamic shared memory.
 * Determinism  no atomics. Thread t adds rows (t + k * THREADS) * VEC + e,
 *           e = 0 .. VEC-1 within k, k = 0, 1, ... in that order; block_sum
 *           (prims.cuh) then joins the threads in a fixed tree. The order
 *           depends on n, THREADS and VEC only: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), VEC, THREADS.
 */
#include "prims.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
colsum_{{SUFFIX}}(float *out, int out_off, const float *in, int n, int cols, float scale,
                  int accumulate) {
    for (int j = 0; j < cols; j++) {
        float s = 0.0f;
        for (long long i0 = (long long)threadIdx.x * {{VEC}}; i0 < n; i0 += (long long){{THREADS}} * {{VEC}})
            for (int e = 0; e < {{VEC}}; e++)
                if (i0 + e < n) s += in[(i0 + e) * cols + j];
        s = block_sum(s);
        if (threadIdx.x == 0) {
            const float v = s * scale;
            out[out_off + j] = accumulate ? out[out_off + j] + v : v;
        }
    }
}
