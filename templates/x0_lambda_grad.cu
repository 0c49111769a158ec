/*
 * x0_lambda_grad.cu: the backward of a layer's x0 mix in one pass over dxm:
 * the activations' gradients, and the first stage of the lambdas'
 * (per-block partial sums; templates/colsum.cu is the second stage).
 *
 * Computes, for the mix xm = lx * xs + sum_k lk * x0_k (x0_mix.cu), with lx
 * = scalars[lambda_off] and lk = scalars[lambda_off + 1 + k],
 *   dxs[t, d]    = lx * dxm[t, d]
 *   dx0_k[t, d] += lk * dxm[t, d]        (accumulates over the layers)
 *   d lx = sum over (t, d) of dxm[t, d] * xs[t, d]
 *   d lk = sum over (t, d) of dxm[t, d] * x0_k[t, d]      k = 0 .. TABLES-1
 *   the sums as block b's share: partial[b * (1 + TABLES) + j], j = 0 for
 *   lx and 1 + k for lk. The second stage, colsum with n = PARTS, cols = 1
 *   + TABLES, scale 1 and accumulate 1, adds the PARTS partials of column j
 *   into the fp32 scalar gradients at spec_lambda_index(spec, layer, j),
 *   as the ref executor's dot() does (runtime/ref/reduce.h); dxs and dx0
 *   are the ref executor's x0_mix_bwd (runtime/ref/elementwise.h). One
 *   kernel, because both read dxm: a second pass would read it again.
 * Layouts   dxm, xs, dxs: [rows, WIDTH] row-major; x0, dx0: TABLES tables
 *           of [rows, WIDTH], table k starting k * table_stride elements
 *           after the pointer (a multiple of VEC); partial: [PARTS, 1 +
 *           TABLES] fp32. dxs may be dxm: each thread reads its vector
 *           before it writes it.
 * Dtypes    bf16 tensors, fp32 lambdas; the products in the sums are exact
 *           in fp32, and every sum is fp32 (the ref code's is double). dxs
 *           and dx0 in fp32 math, one rounding to bf16 per output; dx0
 *           accumulates in bf16, as the recipe's autograd does for a bf16
 *           tensor.
 * Launch    exactly PARTS blocks of THREADS threads (a fixed grid, whatever
 *           `rows` is), no dynamic shared memory. Thread i of block b takes
 *           the VEC-element vectors v = b * THREADS + i, then v + PARTS *
 *           THREADS, and so on to the end of the rows * WIDTH elements.
 *           Pointers 16-byte aligned, WIDTH % VEC == 0.
 * Determinism  no atomics. Each thread sums each of its vectors (VEC
 *           products in order) and adds that to its running sum, in
 *           vector order; block_sum (prims.cuh) joins the threads in a fixed
 *           tree; colsum adds the blocks' partials in a fixed order too.
 *           The order depends on PARTS, THREADS, VEC and rows only: bitwise
 *           reproducible.
 * Placeholders  SUFFIX (kernel-name suffix), TABLES, WIDTH, PARTS, VEC,
 *           THREADS.
 */
#include "prims.cuh"
#include "vec.cuh"

extern "C" __global__ void __launch_bounds__({{THREADS}})
x0_lambda_grad_{{SUFFIX}}(float *partial, __nv_bfloat16 *dxs, __nv_bfloat16 *dx0, const __nv_bfloat16 *dxm,
                          const __nv_bfloat16 *xs, const __nv_bfloat16 *x0, const float *scalars,
                          long long table_stride, int lambda_off, int rows) {
    constexpr int J = 1 + {{TABLES}};
    const long long nvec = (long long)rows * ({{WIDTH}} / {{VEC}});
    float acc[J];
    for (int j = 0; j < J; j++) acc[j] = 0.0f;
    for (long long v = (long long)blockIdx.x * {{THREADS}} + threadIdx.x; v < nvec;
         v += (long long){{PARTS}} * {{THREADS}}) {
        const long long i = v * {{VEC}};
        const Vec<__nv_bfloat16, {{VEC}}> g = vec_load<__nv_bfloat16, {{VEC}}>(dxm + i);
        float gf[{{VEC}}];
        for (int e = 0; e < {{VEC}}; e++) gf[e] = __bfloat162float(g.v[e]);
        /* j = 0: xs's dot and dxs; j = 1 + k: x0_k's dot and dx0_k, one
         * table at a time, so that little stays live across them. */
        for (int j = 0; j < J; j++) {
            const float lam = scalars[lambda_off + j];
            const __nv_bfloat16 *src = j == 0 ? xs + i : x0 + (j - 1) * table_stride + i;
            const Vec<__nv_bfloat16, {{VEC}}> a = vec_load<__nv_bfloat16, {{VEC}}>(src);
            float s = 0.0f;
            for (int e = 0; e < {{VEC}}; e++) s += gf[e] * __bfloat162float(a.v[e]);
            acc[j] += s;
            __nv_bfloat16 *d = j == 0 ? dxs + i : dx0 + (j - 1) * table_stride + i;
            Vec<__nv_bfloat16, {{VEC}}> t;
            if (j == 0) {
                for (int e = 0; e < {{VEC}}; e++) t.v[e] = __float2bfloat16(lam * gf[e]);
            } else {
                t = vec_load<__nv_bfloat16, {{VEC}}>(d);
                for (int e = 0; e < {{VEC}}; e++) t.v[e] = __float2bfloat16(__bfloat162float(t.v[e]) + lam * gf[e]);
            }
            vec_store<__nv_bfloat16, {{VEC}}>(d, t);
        }
    }
    for (int j = 0; j < J; j++) acc[j] = block_sum(acc[j]);
    if (threadIdx.x == 0)
        for (int j = 0; j < J; j++) partial[blockIdx.x * J + j] = acc[j];
}
