/*
 * x0_skip.cu: a U-net skip's add fused into the x0 mix at the start of its
 * target block, forward (the backward is x0_lambda_grad.cu, then skip.cu).
 *
 * Computes, with w = scalars[skip_off] (the source layer's skip weight,
 * spec_skip_index) and the target layer's lambdas lx = scalars[lambda_off],
 * lk = scalars[lambda_off + 1 + k]:
 *   s = x[t, d] + w * src[t, d]                   (fp32)
 *   xs[t, d] = s                                  (bf16: the lambdas' gradient reads it)
 *   xm[t, d] = lx * s + sum_k lk * x0_k[t, d]     k = 0 .. TABLES-1
 *   the ref executor's axpy then x0_mix_fwd (runtime/ref/elementwise.h), in
 *   its fp32 order: xm is mixed from s before s is rounded, as the ref code
 *   mixes its fp32 xs. One skip per call: a layer that several skips reach
 *   (the ref code adds them in list order) needs its other adds elsewhere.
 * Layouts   x, src, xs, xm: [rows, WIDTH] row-major; x0: TABLES tables of
 *           [rows, WIDTH], table k starting k * table_stride elements after
 *           the pointer (a multiple of VEC). xs may be x: each thread reads
 *           its elements before it writes them.
 * Dtypes    bf16 tensors, fp32 scalars and math, one rounding to bf16
 *           (nearest even) per output.
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(rows * WIDTH / (THREADS * VEC)), no shared memory.
 *           Pointers 16-byte aligned, WIDTH % VEC == 0.
 * Determinism  elementwise, no atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), TABLES, WIDTH, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
x0_skip_fwd_{{SUFFIX}}(__nv_bfloat16 *xs, __nv_bfloat16 *xm, const __nv_bfloat16 *x, const __nv_bfloat16 *src,
                       const __nv_bfloat16 *x0, long long table_stride, const float *scalars, int skip_off,
                       int lambda_off, int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> a = vec_load<__nv_bfloat16, {{VEC}}>(x + i);
    const Vec<__nv_bfloat16, {{VEC}}> b = vec_load<__nv_bfloat16, {{VEC}}>(src + i);
    const float w = scalars[skip_off], lx = scalars[lambda_off];
    float s[{{VEC}}], acc[{{VEC}}];
    Vec<__nv_bfloat16, {{VEC}}> out;
    for (int e = 0; e < {{VEC}}; e++) {
        s[e] = __bfloat162float(a.v[e]) + w * __bfloat162float(b.v[e]);
        out.v[e] = __float2bfloat16(s[e]);
        acc[e] = lx * s[e];
    }
    vec_store<__nv_bfloat16, {{VEC}}>(xs + i, out);
    for (int k = 0; k < {{TABLES}}; k++) {
        const float lk = scalars[lambda_off + 1 + k];
        const Vec<__nv_bfloat16, {{VEC}}> c = vec_load<__nv_bfloat16, {{VEC}}>(x0 + k * table_stride + i);
        for (int e = 0; e < {{VEC}}; e++) acc[e] += lk * __bfloat162float(c.v[e]);
    }
    for (int e = 0; e < {{VEC}}; e++) out.v[e] = __float2bfloat16(acc[e]);
    vec_store<__nv_bfloat16, {{VEC}}>(xm + i, out);
}
