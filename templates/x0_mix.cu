/*
 * x0_mix.cu: the x0 mix at the start of every block, forward. Its backward
 * (dxs, dx0 and the lambdas' gradients, which all read dxm) is one pass:
 * templates/x0_lambda_grad.cu.
 *
 * Computes
 *   xm[t, d] = lx * xs[t, d] + sum_k lk * x0_k[t, d]    k = 0 .. TABLES-1
 *   with lx = scalars[lambda_off] and lk = scalars[lambda_off + 1 + k]: the
 *   layer's block lambdas in the fp32 scalars vector, lambda_off =
 *   spec_lambda_index(spec, layer, 0).
 * Layouts   xs, xm: [rows, WIDTH] row-major. x0: TABLES tables of [rows,
 *           WIDTH], table k starting k * table_stride elements after the
 *           pointer (table_stride >= rows * WIDTH, a multiple of VEC). xm
 *           may be xs: each thread reads its elements before it writes them.
 * Dtypes    bf16 tensors, fp32 lambdas, fp32 math in the ref executor's
 *           order (lx * xs first, then + lk * x0_k for k = 0, 1, ...), one
 *           rounding to bf16 (nearest even) per output.
 * Launch    THREADS threads per block, VEC elements per thread, blocks =
 *           ceil(rows * WIDTH / (THREADS * VEC)), no shared memory. Pointers
 *           16-byte aligned and WIDTH % VEC == 0, so vectors never straddle
 *           the end: the only bounds check is the grid's tail.
 * Determinism  elementwise, no atomics: bitwise reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), TABLES, WIDTH, VEC, THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
x0_mix_fwd_{{SUFFIX}}(__nv_bfloat16 *xm, const __nv_bfloat16 *xs, const __nv_bfloat16 *x0,
                      long long table_stride, const float *scalars, int lambda_off, int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> a = vec_load<__nv_bfloat16, {{VEC}}>(xs + i);
    const float lx = scalars[lambda_off];
    float acc[{{VEC}}];
    for (int e = 0; e < {{VEC}}; e++) acc[e] = lx * __bfloat162float(a.v[e]);
    for (int k = 0; k < {{TABLES}}; k++) {
        const float lk = scalars[lambda_off + 1 + k];
        const Vec<__nv_bfloat16, {{VEC}}> b = vec_load<__nv_bfloat16, {{VEC}}>(x0 + k * table_stride + i);
        for (int e = 0; e < {{VEC}}; e++) acc[e] += lk * __bfloat162float(b.v[e]);
    }
    Vec<__nv_bfloat16, {{VEC}}> out;
    for (int e = 0; e < {{VEC}}; e++) out.v[e] = __float2bfloat16(acc[e]);
    vec_store<__nv_bfloat16, {{VEC}}>(xm + i, out);
}
