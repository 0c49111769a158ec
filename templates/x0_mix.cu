/*
 * x0_mix.cu: the x0 mix at the start of every block, forward and the
 * activation part of backward.
 *
 * Computes
 *   forward   xm[t, d]     = lx * xs[t, d] + sum_k lk * x0_k[t, d]    k = 0 .. TABLES-1
 *   backward  dxs[t, d]    = lx * dxm[t, d]
 *             dx0_k[t, d] += lk * dxm[t, d]        (accumulates over the layers)
 *   with lx = scalars[lambda_off] and lk = scalars[lambda_off + 1 + k]: the
 *   layer's block lambdas in the fp32 scalars vector, lambda_off =
 *   spec_lambda_index(spec, layer, 0). The lambdas' own gradients,
 *   sum over (t, d) of dxm * xs and of dxm * x0_k, are reductions:
 *   templates/x0_lambda_grad.cu, then templates/colsum.cu.
 * Layouts   xs, xm, dxs, dxm: [rows, WIDTH] row-major. x0 and dx0: TABLES
 *           tables of [rows, WIDTH], table k starting k * table_stride
 *           elements after the pointer (table_stride >= rows * WIDTH, a
 *           multiple of VEC). xm may be xs, and dxs may be dxm: each thread
 *           reads its elements before it writes them.
 * Dtypes    bf16 tensors, fp32 lambdas, fp32 math in the ref executor's
 *           order (lx * xs first, then + lk * x0_k for k = 0, 1, ...), one
 *           rounding to bf16 (nearest even) per output. dx0 accumulates in
 *           bf16, as the recipe's autograd does for a bf16 tensor.
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

extern "C" __global__ void __launch_bounds__({{THREADS}})
x0_mix_bwd_{{SUFFIX}}(__nv_bfloat16 *dxs, __nv_bfloat16 *dx0, long long table_stride,
                      const __nv_bfloat16 *dxm, const float *scalars, int lambda_off, int rows) {
    const long long n = (long long)rows * {{WIDTH}};
    const long long i = ((long long)blockIdx.x * {{THREADS}} + threadIdx.x) * {{VEC}};
    if (i >= n) return;
    const Vec<__nv_bfloat16, {{VEC}}> g = vec_load<__nv_bfloat16, {{VEC}}>(dxm + i);
    float gf[{{VEC}}];
    for (int e = 0; e < {{VEC}}; e++) gf[e] = __bfloat162float(g.v[e]);
    const float lx = scalars[lambda_off];
    Vec<__nv_bfloat16, {{VEC}}> ds;
    for (int e = 0; e < {{VEC}}; e++) ds.v[e] = __float2bfloat16(lx * gf[e]);
    vec_store<__nv_bfloat16, {{VEC}}>(dxs + i, ds);
    for (int k = 0; k < {{TABLES}}; k++) {
        const float lk = scalars[lambda_off + 1 + k];
        __nv_bfloat16 *d = dx0 + k * table_stride + i;
        Vec<__nv_bfloat16, {{VEC}}> acc = vec_load<__nv_bfloat16, {{VEC}}>(d);
        for (int e = 0; e < {{VEC}}; e++)
            acc.v[e] = __float2bfloat16(__bfloat162float(acc.v[e]) + lk * gf[e]);
        vec_store<__nv_bfloat16, {{VEC}}>(d, acc);
    }
}
